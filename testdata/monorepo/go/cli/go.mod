module example.com/acme/cli

go 1.22

require example.com/acme/mathx v0.0.0

replace example.com/acme/mathx => ../mathx
