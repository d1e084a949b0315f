module example.com/acme/mathx

go 1.22
