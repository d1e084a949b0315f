fn main() {
    println!("{}", geometry::area(3, 4));
}
