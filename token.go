package pmgsync

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"strings"
	"time"
)

// TokenPrefix starts every token pmgsync generates, so that a token is
// recognisable in a config file, a log or a secret scanner. Tokens imported
// from the old server keep whatever form they had.
const TokenPrefix = "pmg_"

// tokenBytes is the randomness of a generated token: 160 bits.
const tokenBytes = 20

var tokenEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// Token is a technician's credential. The raw token is shown once, when it is
// created; the store keeps only its hash (HashToken) and these facts.
type Token struct {
	ID           int64
	TechnicianID int64
	Technician   string // the technician's name, filled in by queries for display
	Label        string // what the admin called it, e.g. "Galaxy A14 do João"
	Hint         string // the first characters of a generated token, for recognising it; "" for imported ones
	CreatedAt    time.Time
	LastUsedAt   time.Time // zero if never used
	ExpiresAt    time.Time // zero if it never expires
	RevokedAt    time.Time // zero if not revoked
}

// Active reports whether the token may authenticate at time now.
func (t *Token) Active(now time.Time) bool {
	if !t.RevokedAt.IsZero() {
		return false
	}
	return t.ExpiresAt.IsZero() || now.Before(t.ExpiresAt)
}

// NewToken returns a fresh random token: TokenPrefix followed by 32 base32
// characters (160 bits from crypto/rand).
func NewToken() string {
	b := make([]byte, tokenBytes)
	rand.Read(b) // never returns an error; it crashes the program if the system's source fails
	return TokenPrefix + strings.ToLower(tokenEncoding.EncodeToString(b))
}

// TokenHint returns the part of a raw token that may be stored and shown to
// identify it: the prefix and four characters of a generated token (20 of its
// 160 bits), nothing for an imported token, whose entropy may be low.
func TokenHint(raw string) string {
	if !strings.HasPrefix(raw, TokenPrefix) || len(raw) != len(TokenPrefix)+32 {
		return ""
	}
	return raw[:len(TokenPrefix)+4]
}

// HashToken returns the digest under which a raw token is stored and looked
// up. A plain SHA-256 is enough for generated tokens, whose 160 random bits
// cannot be guessed from the hash; the security guide explains the
// residual risk of short imported tokens.
func HashToken(raw string) []byte {
	sum := sha256.Sum256([]byte(raw))
	return sum[:]
}
