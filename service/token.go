package service

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// Page tokens are opaque to callers: a version byte, a kind byte, numbers
// and strings, each length-prefixed, and a CRC-32 of it all, in unpadded
// base64url. The checksum catches garbage and edits; the fields tie a token
// to the listing that issued it. Tokens are not secrets: a forged one can
// only name a place in a listing its bearer may read anyway.

const tokenVersion = 1

// Token kinds, so that a token of one listing is never accepted by another.
const (
	tokenSessions byte = 's'
	tokenRecent   byte = 'r' // sessions, RecentFirst
	tokenEvents   byte = 'e'
)

func encodeToken(kind byte, nums []uint64, strs []string) string {
	b := []byte{tokenVersion, kind}
	for _, n := range nums {
		b = binary.AppendUvarint(b, n)
	}
	for _, s := range strs {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	b = binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(b))
	return base64.RawURLEncoding.EncodeToString(b)
}

var errToken = errors.New("malformed")

// decodeToken reads a token of the given kind with nNums numbers and
// nStrs strings.
func decodeToken(tok string, kind byte, nNums, nStrs int) ([]uint64, []string, error) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(b) < 6 {
		return nil, nil, errToken
	}
	body, sum := b[:len(b)-4], binary.BigEndian.Uint32(b[len(b)-4:])
	if crc32.ChecksumIEEE(body) != sum || body[0] != tokenVersion || body[1] != kind {
		return nil, nil, errToken
	}
	body = body[2:]
	nums := make([]uint64, nNums)
	for i := range nums {
		n, k := binary.Uvarint(body)
		if k <= 0 {
			return nil, nil, errToken
		}
		nums[i], body = n, body[k:]
	}
	strs := make([]string, nStrs)
	for i := range strs {
		n, k := binary.Uvarint(body)
		if k <= 0 || n > uint64(len(body)-k) {
			return nil, nil, errToken
		}
		strs[i], body = string(body[k:k+int(n)]), body[k+int(n):]
	}
	// Only the canonical encoding is accepted: the decoder skips line
	// breaks and the unused bits of the last character, and an overlong
	// varint reads like a short one, so an edited token could otherwise
	// decode to the same fields.
	if len(body) != 0 || encodeToken(kind, nums, strs) != tok {
		return nil, nil, errToken
	}
	return nums, strs, nil
}

func badToken(what string) error {
	return fmt.Errorf("%w: pageToken is not a token of this %s listing", ErrInvalidArgument, what)
}
