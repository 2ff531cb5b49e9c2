package seedimport

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"unicode"
)

// tokenLine is one token of the tokens file.
type tokenLine struct {
	line       int // 1-based line number in the file
	token      string
	technician string
}

// parseTokens reads the tokens file: one "TOKEN NAME" a line, NAME being the
// rest of the line after the first run of white space (so it may hold
// spaces: "abc123 João Silva"). Blank lines and lines starting with '#' are
// skipped; a line without a name is reported in rep as a reject, with its
// line number, and so is a repeated token. Only an error reading r is
// returned.
func parseTokens(r io.Reader, rep *Report) ([]tokenLine, error) {
	var lines []tokenLine
	seen := make(map[string]int) // token → line
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		text := sc.Text()
		if n == 1 {
			text = strings.TrimPrefix(text, "\uFEFF") // byte order mark of Windows editors
		}
		text = strings.TrimSpace(text)
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		where := fmt.Sprintf("tokens file, line %d", n)
		i := strings.IndexFunc(text, unicode.IsSpace)
		if i < 0 {
			rep.reject(where, "malformed line: want TOKEN NAME")
			continue
		}
		tok, name := text[:i], strings.TrimLeftFunc(text[i:], unicode.IsSpace)
		if first, dup := seen[tok]; dup {
			rep.reject(where, fmt.Sprintf("the same token as on line %d; ignored", first))
			continue
		}
		seen[tok] = n
		lines = append(lines, tokenLine{line: n, token: tok, technician: name})
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return lines, nil
}
