package main

import (
	"fmt"

	"example.com/acme/mathx"
)

func main() {
	fmt.Println(mathx.Max(3, 4))
}
