package main

import (
	"archive/zip"
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
)

// contentTypesXML is the [Content_Types].xml of the reports the bench sends.
const contentTypesXML = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="bin" ContentType="application/octet-stream"/></Types>`

// report returns an .xlsx report of exactly size bytes that pmgsync's type
// checks accept: a ZIP archive holding [Content_Types].xml and a part of
// pseudo-random bytes (seeded by seed), stored uncompressed, so that nothing
// on the way can make it smaller. size must exceed the package's few
// hundred bytes of overhead.
func report(size int, seed byte) ([]byte, error) {
	empty, err := xlsxPackage(nil)
	if err != nil {
		return nil, err
	}
	n := size - len(empty)
	if n <= 0 {
		return nil, fmt.Errorf("a report cannot be as small as %d bytes", size)
	}
	payload := make([]byte, n)
	rand.NewChaCha8([32]byte{seed}).Read(payload)
	b, err := xlsxPackage(payload)
	if err != nil {
		return nil, err
	}
	if len(b) != size {
		return nil, fmt.Errorf("report of %d bytes; want %d", len(b), size)
	}
	return b, nil
}

// xlsxPackage wraps payload in a minimal Office Open XML package. Its
// overhead does not depend on the payload's size (under 4 GiB).
func xlsxPackage(payload []byte) ([]byte, error) {
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	ct, err := zw.Create("[Content_Types].xml")
	if err != nil {
		return nil, err
	}
	if _, err := io.WriteString(ct, contentTypesXML); err != nil {
		return nil, err
	}
	part, err := zw.CreateHeader(&zip.FileHeader{Name: "xl/payload.bin", Method: zip.Store})
	if err != nil {
		return nil, err
	}
	if _, err := part.Write(payload); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// boundary separates the parts of the bench's multipart bodies; it cannot
// occur in a report, whose bytes after the ZIP headers are random.
const boundary = "pmgsync-bench-7f3a9c2e51d04b68"

// uploadRequest returns the request of the classic upload of content as the
// file name, authenticated with token: a multipart/form-data body whose
// only part is the field "file", as the apps send it, streamed from content
// without a copy.
func uploadRequest(ctx context.Context, base, token, name string, content []byte) (*http.Request, error) {
	head := "--" + boundary + "\r\n" +
		`Content-Disposition: form-data; name="file"; filename="` + name + "\"\r\n" +
		"Content-Type: application/vnd.openxmlformats-officedocument.spreadsheetml.sheet\r\n\r\n"
	tail := "\r\n--" + boundary + "--\r\n"
	body := io.MultiReader(strings.NewReader(head), bytes.NewReader(content), strings.NewReader(tail))
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/upload", body)
	if err != nil {
		return nil, err
	}
	req.ContentLength = int64(len(head) + len(content) + len(tail))
	req.Header.Set("Content-Type", "multipart/form-data; boundary="+boundary)
	req.Header.Set("Authorization", "Bearer "+token)
	return req, nil
}
