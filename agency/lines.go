// The bets file's lines and fields: one bounded buffer whatever the file
// holds, a UTF-8 BOM dropped, CSV fields split.

package agency

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode"
	"unsafe"
)

// errLineTooLong is the reason a line longer than maxLine is skipped.
var errLineTooLong = fmt.Errorf("line too long (over %d KiB)", maxLine>>10)

// utf8BOM is dropped from the start of a bets file: editors on Windows
// write it.
var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// lineReader reads a bets file one line at a time through one buffer of
// maxLine bytes and its line ending. A longer line is read past in
// buffer-sized pieces, never held whole, and reported as too long. Lines
// are numbered from 1, every one counted (blank and too long ones too).
type lineReader struct {
	br   *bufio.Reader
	line int   // the number of the line last returned
	read int64 // bytes of the file read past
}

func newLineReader(r io.Reader) *lineReader {
	lr := &lineReader{br: bufio.NewReaderSize(r, maxLine+len("\r\n"))}
	if start, _ := lr.br.Peek(len(utf8BOM)); bytes.Equal(start, utf8BOM) {
		lr.br.Discard(len(utf8BOM))
		lr.read = int64(len(utf8BOM))
	}
	return lr
}

// next returns the next line without its line ending (valid until the
// next call), errLineTooLong for a line longer than maxLine, and io.EOF
// after the last line.
func (lr *lineReader) next() ([]byte, error) {
	line, err := lr.br.ReadSlice('\n')
	lr.read += int64(len(line))
	if len(line) == 0 && err != nil {
		return nil, err
	}
	lr.line++
	tooLong := false
	for errors.Is(err, bufio.ErrBufferFull) {
		tooLong = true
		line, err = lr.br.ReadSlice('\n')
		lr.read += int64(len(line))
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	line = bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))
	if tooLong || len(line) > maxLine {
		return nil, errLineTooLong
	}
	return line, nil
}

// fieldReader splits one line into its fields the way encoding/csv reads
// a record, a line at a time: a quote left open spoils its own line only
// (no bet spans lines: names hold no line breaks). One csv.Reader serves
// every line: it reads each line through src, to its end, and src is then
// given the next.
type fieldReader struct {
	src bytes.Reader
	cr  *csv.Reader
	rec []string // the fields of a line read without encoding/csv
}

func newFieldReader() *fieldReader {
	fr := &fieldReader{}
	fr.cr = csv.NewReader(&fr.src)
	fr.cr.FieldsPerRecord = -1
	fr.cr.ReuseRecord = true
	fr.cr.TrimLeadingSpace = true
	return fr
}

// fields returns the line's fields, valid until the next call and while
// line is, surrounding spaces kept (the caller trims them), or io.EOF for
// a blank line.
func (fr *fieldReader) fields(line []byte) ([]string, error) {
	if len(line) > 0 && bytes.IndexByte(line, '"') < 0 && bytes.IndexByte(line, '\r') < 0 {
		return fr.split(line), nil
	}
	fr.src.Reset(line)
	rec, err := fr.cr.Read()
	var perr *csv.ParseError
	if errors.As(err, &perr) {
		return nil, perr.Err // the line number is the caller's
	}
	return rec, err
}

// split reads a line with no quote and no carriage return, as nearly every
// line of a bets file is, the way encoding/csv would, without its general
// loop: the fields between commas, leading spaces trimmed. They are parts
// of line itself, not of a copy: valid only while line is (until the
// next line is read), which eachBet's callers respect. A string allocated
// for every line made up most of what the agency allocates, and its heap
// grew by each one, faulted in a page at a time.
func (fr *fieldReader) split(line []byte) []string {
	s := unsafe.String(unsafe.SliceData(line), len(line))
	fr.rec = fr.rec[:0]
	for {
		i := strings.IndexByte(s, ',')
		if i < 0 {
			fr.rec = append(fr.rec, strings.TrimLeftFunc(s, unicode.IsSpace))
			return fr.rec
		}
		fr.rec = append(fr.rec, strings.TrimLeftFunc(s[:i], unicode.IsSpace))
		s = s[i+1:]
	}
}
