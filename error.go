package pmgsync

import "errors"

// Error codes: the kinds of failure a caller can act on. Each maps to one HTTP
// status in httpserver and to one exit status in the CLI.
const (
	EINVALID      = "invalid"      // bad input; nothing was changed
	ENOTFOUND     = "not_found"    // no such technician, token or file
	ECONFLICT     = "conflict"     // the thing already exists
	EUNAUTHORIZED = "unauthorized" // missing, unknown, expired or revoked token
	ETOOLARGE     = "too_large"    // the upload is over the size limit
	EUNSUPPORTED  = "unsupported"  // the file's type is not allowed
	ESTORAGE      = "storage_full" // a quota, or the disk's free space, is exhausted
	EINTERNAL     = "internal"     // anything else; details only in the log
)

// Error is a domain error: a code a caller can branch on and a message meant
// for the person at the other end. The message is a catalog key plus
// arguments (see messages.go) so that it can be shown in pt-BR or English.
// Errors of any other type are internal: their text is logged, never shown.
type Error struct {
	Code string
	Key  string // catalog key of the message; see messages.go
	Args []any  // arguments of the message's format
}

// Errorf returns an Error with the given code whose message is the catalog
// entry key formatted with args.
func Errorf(code, key string, args ...any) *Error {
	return &Error{Code: code, Key: key, Args: args}
}

// Error returns the English message.
func (e *Error) Error() string { return e.Message(English) }

// Message returns the message in the given language (pt-BR when the language
// has no catalog).
func (e *Error) Message(lang Lang) string {
	return Translate(lang, e.Key, e.Args...)
}

// WithCode returns err with the code and message of a domain error while
// keeping err in the chain for the log: ErrorCode and ErrorMessage find the
// domain error first, errors.Is and errors.As still find err's causes.
func WithCode(err error, code, key string, args ...any) error {
	return &codedError{code: Errorf(code, key, args...), err: err}
}

type codedError struct {
	code *Error
	err  error
}

func (e *codedError) Error() string   { return e.err.Error() }
func (e *codedError) Unwrap() []error { return []error{e.code, e.err} }

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL for
// any other non-nil error, and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the user-facing message of err in lang: the message of
// the first *Error in its chain, or a generic one for internal errors, whose
// text may hold details (paths, SQL) that must not reach a client.
func ErrorMessage(lang Lang, err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message(lang)
	}
	return Translate(lang, MsgInternal)
}

// IsCode reports whether err carries the given code.
func IsCode(err error, code string) bool { return ErrorCode(err) == code }

// ErrInactiveToken is in the chain of the EUNAUTHORIZED error of
// MetadataStore.Authenticate for a token that exists but is expired,
// revoked or its technician's is disabled. The client must not be able to
// tell it from an unknown token: it gets the same status and message. The
// server uses it to count only unknown tokens as guesses, so that one phone
// still syncing with a token past its rotation grace does not get every
// technician behind its carrier's NAT banned.
var ErrInactiveToken = errors.New("the token exists but is not active")
