package backup

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
)

// manifestParts returns the JSON object of m, but for the elements of its
// entries list, in two parts: head, the fields that Manifest declares
// before Entries and the list's opening `"entries":[`; tail, from the
// list's closing ']' to the end of the object. So Manifest's declaration
// is the one list of the fields that manifestWriter writes.
func manifestParts(m *Manifest) (head, tail []byte, err error) {
	c := *m
	c.CreatedAt = c.CreatedAt.UTC()
	c.Entries = []Entry{{}} // a placeholder: an empty list would be omitted
	b, err := json.Marshal(&c)
	if err != nil {
		return nil, nil, err
	}
	// No string value can hold `"entries":[` (its quotes would be escaped),
	// and the placeholder, of empty strings, holds no ']'.
	const open = `"entries":[`
	i := bytes.Index(b, []byte(open))
	if i < 0 {
		return nil, nil, errors.New("the manifest has no list of entries")
	}
	i += len(open)
	j := bytes.IndexByte(b[i:], ']')
	if j < 0 {
		return nil, nil, errors.New("the manifest's list of entries has no end")
	}
	return b[:i], b[i+j:], nil
}

// manifestWriter writes a manifest to a file as its entries come, so that
// a backup of any number of files keeps none of them in memory.
type manifestWriter struct {
	path string
	f    *os.File
	w    *bufio.Writer
	n    int
}

// newManifestWriter creates the manifest file at path and writes m's head.
func newManifestWriter(path string, m *Manifest) (*manifestWriter, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create the manifest: %w", err)
	}
	mw := &manifestWriter{path: path, f: f, w: bufio.NewWriter(f)}
	head, _, err := manifestParts(m)
	if err != nil {
		f.Close()
		return nil, err
	}
	mw.w.Write(head)
	return mw, nil
}

// add lists e.
func (mw *manifestWriter) add(e Entry) error {
	line, err := json.Marshal(e)
	if err != nil {
		return err
	}
	if mw.n > 0 {
		mw.w.WriteByte(',')
	}
	mw.n++
	mw.w.WriteByte('\n')
	_, err = mw.w.Write(line)
	return err
}

// finish writes m's tail and closes the file.
func (mw *manifestWriter) finish(m *Manifest) error {
	_, tail, err := manifestParts(m)
	if err != nil {
		return err
	}
	mw.w.WriteByte('\n')
	mw.w.Write(tail)
	mw.w.WriteByte('\n')
	if err := mw.w.Flush(); err != nil {
		return err
	}
	err = mw.f.Close()
	mw.f = nil
	return err
}

// close closes the file if finish did not.
func (mw *manifestWriter) close() {
	if mw.f != nil {
		mw.f.Close()
	}
}

// Bounds of a manifest, which a restore reads from an archive that may be
// hostile: what it holds in memory at once stays within them.
const (
	// maxManifestFields bounds the fields of a manifest but its entries,
	// together: the counts and the lists of at most maxListed files each.
	maxManifestFields = 1 << 20
	// maxEntryJSON bounds one entry of the list, and one key or delimiter.
	maxEntryJSON = 4 << 10
	// maxEntryName bounds the name of an entry, of the archive and of the
	// manifest's list: a blob's is 41 bytes long, one of the ACME cache
	// at most 5 + 255 + 1 + 255.
	maxEntryName = 1024
)

// maxManifestSize is the size of the largest manifest of entries entries.
func maxManifestSize(entries int64) int64 { return maxManifestFields + (entries+1)*maxEntryJSON }

// errManifestTooLong is the error of a manifest value beyond its bound.
var errManifestTooLong = errors.New("a value of the manifest is too long")

// boundedReader reads from r until n bytes have been read, then fails
// with errManifestTooLong: readManifest sets n before each value, so that
// the decoder never buffers more than the value's bound.
type boundedReader struct {
	r io.Reader
	n int64
}

func (b *boundedReader) Read(p []byte) (int, error) {
	if b.n <= 0 {
		return 0, errManifestTooLong
	}
	if int64(len(p)) > b.n {
		p = p[:b.n]
	}
	n, err := b.r.Read(p)
	b.n -= int64(n)
	return n, err
}

// readManifest parses a manifest from r as a stream: it returns the
// manifest without its entries, and the digest and count of the entries,
// which it does not keep. Keys may come in any order. A manifest beyond
// the bounds above fails with errManifestTooLong, or says which name is
// too long, having read at most maxManifestFields + maxEntryJSON bytes
// into memory at once.
func readManifest(r io.Reader) (*Manifest, *listDigest, error) {
	br := &boundedReader{r: r}
	dec := json.NewDecoder(br)
	small := func() { br.n = maxEntryJSON }
	small()
	if err := expectDelim(dec, '{'); err != nil {
		return nil, nil, err
	}
	digest := newListDigest()
	fields := make(map[string]json.RawMessage)
	var fieldBytes int64
	for small(); dec.More(); small() {
		tok, err := dec.Token()
		if err != nil {
			return nil, nil, err
		}
		key, _ := tok.(string)
		if key != "entries" {
			br.n = maxManifestFields - fieldBytes
			var raw json.RawMessage
			if err := dec.Decode(&raw); err != nil {
				return nil, nil, err
			}
			if fieldBytes += int64(len(key) + len(raw)); fieldBytes > maxManifestFields {
				return nil, nil, errManifestTooLong
			}
			fields[key] = raw
			continue
		}
		small()
		if err := expectDelim(dec, '['); err != nil {
			return nil, nil, err
		}
		for small(); dec.More(); small() {
			var e Entry
			if err := dec.Decode(&e); err != nil {
				return nil, nil, err
			}
			if len(e.Name) > maxEntryName {
				return nil, nil, fmt.Errorf("the name of entry %d is %d bytes long", digest.n+1, len(e.Name))
			}
			digest.add(e)
		}
		small()
		if err := expectDelim(dec, ']'); err != nil {
			return nil, nil, err
		}
	}
	if err := expectDelim(dec, '}'); err != nil {
		return nil, nil, err
	}
	small()
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, nil, errors.New("data after the manifest's object")
	}
	// The fields but the entries are few and small: decode them together.
	var b bytes.Buffer
	if err := json.NewEncoder(&b).Encode(fields); err != nil {
		return nil, nil, err
	}
	var m Manifest
	if err := json.Unmarshal(b.Bytes(), &m); err != nil {
		return nil, nil, err
	}
	return &m, digest, nil
}

func expectDelim(dec *json.Decoder, want json.Delim) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if d, ok := tok.(json.Delim); !ok || d != want {
		return fmt.Errorf("expected %q, found %v", want, tok)
	}
	return nil
}
