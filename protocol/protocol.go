// Package protocol is the lottery's binary wire format (docs/protocol.md): the fixed
// 128-byte bet record, the 5-byte request header, the requests an agency
// sends and the replies of the central, and the result codes. It knows bytes,
// not sockets: everything works over io.Reader and io.Writer, never trusts
// the peer, and checks every length before allocating.
//
// All integers are big-endian.
package protocol

import (
	"errors"
	"fmt"
)

// Sizes of the wire format.
const (
	HeaderSize     = 5    // action u8 · agency u16 · count u16
	BetSize        = 128  // one bet record
	MaxFrameSize   = 8192 // a request, header included, never exceeds this
	MaxBatchCount  = (MaxFrameSize - HeaderSize) / BetSize
	MaxEchoPayload = MaxFrameSize - HeaderSize
	CodeSize       = 2                // i16 result code
	StatusSize     = CodeSize + 4 + 1 // code · stored u32 · ended u8
	RoundSize      = 4                // a round's number, u32: a round status query's body
	// RoundStatusSize is the reply to a round status query: a status and
	// the round's number.
	RoundStatusSize = StatusSize + RoundSize
	documentSize    = 4
	MaxWinners      = 1<<16 - 1 // the reply counts winners in a u16
)

// MaxInFlight is the most frames the central reads ahead of its replies on
// one connection: every batch read ahead of the disk joins the next fsync,
// so it sets how many of an agency's batches one fsync can take (128
// frames took a third of the fsyncs 32 did), and it bounds what a
// connection holds in the central: a reply in the making of about 128
// bytes per frame (the rows are in the store's queue, bounded on its own).
// It is also the least window an agency keeps: a smaller one would give
// the group commit fewer batches per fsync. An agency's window is larger
// over a long link (bounded by bytes, agency.maxInFlightBytes): the frames
// beyond these wait in the sockets' buffers and on the wire, not in the
// central.
const MaxInFlight = 128

// Action is the first byte of every request.
type Action byte

// The requests an agency can send.
const (
	ActionBatch   Action = 'B' // count bet records follow
	ActionEnd     Action = 'E' // the agency has sent all its bets
	ActionWinners Action = 'W' // the agency asks for its winners
	ActionEcho    Action = 'H' // count payload bytes follow, echoed back
	ActionStatus  Action = 'S' // the agency asks what the central holds of it
)

func (a Action) String() string {
	switch a {
	case ActionBatch:
		return "batch"
	case ActionEnd:
		return "end"
	case ActionWinners:
		return "winners"
	case ActionEcho:
		return "echo"
	case ActionStatus:
		return "status"
	}
	return fmt.Sprintf("unknown(0x%02x)", byte(a))
}

// Decoding errors. They are wrapped with what was being read; use errors.Is.
var (
	ErrUnknownAction = errors.New("unknown action")
	ErrCount         = errors.New("count out of range")
	ErrRecord        = errors.New("malformed bet record")
	ErrWinners       = errors.New("malformed winners reply")
	ErrStatus        = errors.New("malformed status reply")
)

// Code is the i16 result of a request. Zero is success; every failure has a
// negative code of its own.
type Code int16

const (
	// CodeOK: the request was carried out (for a batch: every bet is on disk).
	CodeOK Code = 0
	// CodeDrawPending: winners were asked before the draw; ask again later.
	CodeDrawPending Code = -1
	// CodeMalformed: the frame could not be parsed (unknown action, count out
	// of range, malformed bet record). After a framing error the central
	// closes the connection, since it cannot find the next frame.
	CodeMalformed Code = -2
	// CodeInvalidBet: a bet broke a rule of lottery.Bet.Validate; none of the batch was
	// stored.
	CodeInvalidBet Code = -3
	// CodeAgencyMismatch: the agency of a bet, of the header or of the
	// connection disagree.
	CodeAgencyMismatch Code = -4
	// CodeUnknownAgency: the agency is not within 1..AGENCIES.
	CodeUnknownAgency Code = -5
	// CodeAfterEnd: bets were sent after this agency's end.
	CodeAfterEnd Code = -6
	// CodeShuttingDown: the central is shutting down and stores nothing more.
	CodeShuttingDown Code = -7
	// CodeStorage: the central could not store the batch; nothing of it was
	// acknowledged.
	CodeStorage Code = -8
	// CodeInternal: the central failed while handling the request (and
	// recovered); whether a batch was stored is unknown: ask again.
	CodeInternal Code = -9
	// CodeTooManyWinners: the batch would give its agency more winners than
	// a winners reply can carry (MaxWinners); none of it was stored.
	CodeTooManyWinners Code = -10
	// CodeBettingClosed: the round's closing time has passed, or the round
	// the connection is about was drawn and another one followed it, so the
	// central takes no more bets in it; none of the batch was stored.
	CodeBettingClosed Code = -11
	// CodeUnknownRound: a status query named a round the central does not
	// hold (its store is not the one the agency began with).
	CodeUnknownRound Code = -12
)

var codeNames = map[Code]string{
	CodeOK:             "ok",
	CodeDrawPending:    "draw pending",
	CodeMalformed:      "malformed frame",
	CodeInvalidBet:     "invalid bet",
	CodeAgencyMismatch: "agency mismatch",
	CodeUnknownAgency:  "unknown agency",
	CodeAfterEnd:       "bets after end",
	CodeShuttingDown:   "shutting down",
	CodeStorage:        "storage failure",
	CodeInternal:       "internal error",
	CodeTooManyWinners: "too many winners for one reply",
	CodeBettingClosed:  "betting closed",
	CodeUnknownRound:   "unknown round",
}

func (c Code) String() string {
	if s, ok := codeNames[c]; ok {
		return s
	}
	return fmt.Sprintf("unknown code %d", int16(c))
}
