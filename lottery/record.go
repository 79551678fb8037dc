package lottery

import (
	"fmt"
	"strconv"
)

// AgencyFields is the number of fields of one line of an agency file
// (docs/protocol.md): first_name,last_name,document,birthdate,number.
const AgencyFields = 5

// ParseAgencyRecord turns the fields of one agency-file line into a bet of
// the given agency. Numbers may carry leading zeros (`00000000` is document 0). It checks the syntax
// of the numbers only; call Validate for the rules of a bet.
func ParseAgencyRecord(agency uint16, fields []string) (Bet, error) {
	if len(fields) != AgencyFields {
		return Bet{}, fmt.Errorf("%d fields, want %d (first_name,last_name,document,birthdate,number)", len(fields), AgencyFields)
	}
	doc, err := strconv.ParseUint(fields[2], 10, 32)
	if err != nil {
		return Bet{}, fmt.Errorf("%w: %q is not a whole number within 0..%d", ErrDocument, fields[2], MaxDocument)
	}
	num, err := strconv.ParseUint(fields[4], 10, 16)
	if err != nil {
		return Bet{}, fmt.Errorf("%w: %q is not a whole number within 0..%d", ErrNumber, fields[4], MaxNumber)
	}
	return Bet{
		Agency:    agency,
		FirstName: fields[0],
		LastName:  fields[1],
		Document:  uint32(doc),
		Birthdate: fields[3],
		Number:    uint16(num),
	}, nil
}

// AppendAgencyRecord appends the fields of an agency-file line for b.
func (b Bet) AppendAgencyRecord(dst []string) []string {
	return append(dst,
		b.FirstName,
		b.LastName,
		strconv.FormatUint(uint64(b.Document), 10),
		b.Birthdate,
		strconv.FormatUint(uint64(b.Number), 10),
	)
}
