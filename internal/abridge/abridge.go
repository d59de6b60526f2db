// Package abridge shortens user input for error messages, so that a
// megabyte of config or request does not come back as a megabyte of error.
package abridge

import (
	"fmt"
	"strconv"
	"unicode/utf8"
)

// Max is the number of bytes of input an error message shows.
const Max = 64

// String returns s, or its first Max bytes (cut on a character boundary)
// followed by "…" and the length of s.
func String(s string) string {
	if len(s) <= Max {
		return s
	}
	cut := Max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%s… (%d bytes)", s[:cut], len(s))
}

// Quote returns s quoted as %q does, abridged as by [String]: the quotes
// close the part shown, so that a reader sees where the input was cut.
func Quote(s string) string {
	if len(s) <= Max {
		return strconv.Quote(s)
	}
	short := String(s)
	cut := len(short) - len(fmt.Sprintf("… (%d bytes)", len(s)))
	return strconv.Quote(short[:cut]) + short[cut:]
}
