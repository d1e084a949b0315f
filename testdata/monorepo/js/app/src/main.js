const { button } = require("@acme/ui");

console.log(button("OK"));
