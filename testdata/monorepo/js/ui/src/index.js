const leftPad = (text, width) => String(text).padStart(width, " ");

function button(label) {
  return `[ ${leftPad(label, 6)} ]`;
}

module.exports = { button };
