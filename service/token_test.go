package service

import (
	"encoding/base64"
	"encoding/binary"
	"hash/crc32"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// tokShapes are the token layouts the listings use: List's (four strings)
// and ListEvents' (two numbers, three strings).
var tokShapes = []struct {
	name         string
	kind         byte
	nNums, nStrs int
}{
	{"sessions", tokenSessions, 0, 4},
	{"events", tokenEvents, 2, 3},
}

const tokAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// tokRandomString returns a string of random bytes, any byte at all.
func tokRandomString(r *rand.Rand) string {
	b := make([]byte, r.IntN(40))
	for i := range b {
		b[i] = byte(r.IntN(256))
	}
	return string(b)
}

// CONTRACT L2 E1: a token decodes to the fields it was encoded from, for
// any numbers and any strings.
func TestTokenRoundTrip(t *testing.T) {
	fixed := []struct {
		name string
		nums []uint64
		strs []string
	}{
		{"empty strings", []uint64{0, 0}, []string{"", "", "", ""}},
		{"the largest numbers", []uint64{^uint64(0), 1 << 63}, []string{"a", "b", "c"}},
		{"separators and zero bytes in strings", []uint64{1, 2}, []string{"a:b", "c/d", "\x00", "é\xff"}},
		{"a long string", []uint64{3}, []string{strings.Repeat("x", 70000)}},
		{"no fields at all", nil, nil},
	}
	for _, tt := range fixed {
		t.Run("a token of "+tt.name+" decodes to its fields", func(t *testing.T) {
			tok := encodeToken(tokenEvents, tt.nums, tt.strs)
			nums, strs, err := decodeToken(tok, tokenEvents, len(tt.nums), len(tt.strs))
			require.NoError(t, err)
			assert.Equal(t, len(tt.nums), len(nums))
			for i := range tt.nums {
				assert.Equal(t, tt.nums[i], nums[i])
			}
			assert.Equal(t, len(tt.strs), len(strs))
			for i := range tt.strs {
				assert.Equal(t, tt.strs[i], strs[i])
			}
		})
	}
	t.Run("random fields of both shapes decode to themselves", func(t *testing.T) {
		r := rand.New(rand.NewPCG(1, 2))
		for range 2000 {
			shape := tokShapes[r.IntN(len(tokShapes))]
			nums := make([]uint64, shape.nNums)
			for i := range nums {
				nums[i] = r.Uint64() >> r.IntN(64)
			}
			strs := make([]string, shape.nStrs)
			for i := range strs {
				strs[i] = tokRandomString(r)
			}
			tok := encodeToken(shape.kind, nums, strs)
			gotNums, gotStrs, err := decodeToken(tok, shape.kind, shape.nNums, shape.nStrs)
			require.NoError(t, err)
			require.Equal(t, nums, gotNums)
			require.Equal(t, strs, gotStrs)
			require.NotContains(t, tok, "=", "tokens are unpadded")
			tokURLSafe(t, tok)
		}
	})
}

// tokURLSafe checks that tok needs no escaping in a URL query.
func tokURLSafe(t *testing.T, tok string) {
	t.Helper()
	for _, c := range tok {
		require.Contains(t, tokAlphabet, string(c), "tokens are URL-safe")
	}
}

// CONTRACT E1 L2 B1: a token of another kind, another shape, or any edit
// is rejected.
func TestTokenRejects(t *testing.T) {
	sessions := encodeToken(tokenSessions, nil, []string{"app", "user", "u1", "s1"})
	events := encodeToken(tokenEvents, []uint64{7, 3}, []string{"app", "user", "s1"})
	body, err := base64.RawURLEncoding.DecodeString(sessions)
	require.NoError(t, err)
	reencode := func(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
	tests := []struct {
		name         string
		tok          string
		kind         byte
		nNums, nStrs int
	}{
		{"the empty string", "", tokenSessions, 0, 4},
		{"a string that is not base64", "not a token!", tokenSessions, 0, 4},
		{"padded base64", sessions + "==", tokenSessions, 0, 4},
		{"a sessions token given to the events listing", sessions, tokenEvents, 2, 3},
		{"an events token given to the sessions listing", events, tokenSessions, 0, 4},
		{"a token with fewer fields than asked for", sessions, tokenSessions, 0, 5},
		{"a token with more fields than asked for", sessions, tokenSessions, 0, 3},
		{"a token read with numbers it does not have", sessions, tokenSessions, 1, 4},
		{"a truncated token", sessions[:len(sessions)-3], tokenSessions, 0, 4},
		{"a token cut to its first bytes", sessions[:6], tokenSessions, 0, 4},
		{"a token with bytes added", sessions + "AAAA", tokenSessions, 0, 4},
		{"a token of another version", reencode(tokResum(append([]byte{2}, body[1:len(body)-4]...))), tokenSessions, 0, 4},
		{"a token with a string length past its end", reencode(tokResum([]byte{tokenVersion, tokenSessions, 200, 'a'})), tokenSessions, 0, 1},
		{"a token with a varint that never ends", reencode(tokResum([]byte{tokenVersion, tokenEvents, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})), tokenEvents, 1, 0},
		{"a token with a number written in more bytes than it needs",
			reencode(tokResum([]byte{tokenVersion, tokenEvents, 0x8c, 0x00, 0xac, 0x02, 1, 'a'})), tokenEvents, 2, 1},
		{"a token with a string length written in more bytes than it needs",
			reencode(tokResum([]byte{tokenVersion, tokenSessions, 0x81, 0x00, 'a'})), tokenSessions, 0, 1},
		{"a token whose checksum does not match", reencode(append(append([]byte{}, body[:len(body)-1]...), body[len(body)-1]^1)), tokenSessions, 0, 4},
	}
	for _, tt := range tests {
		t.Run("decoding "+tt.name+" fails", func(t *testing.T) {
			nums, strs, err := decodeToken(tt.tok, tt.kind, tt.nNums, tt.nStrs)
			require.Error(t, err)
			assert.Nil(t, nums)
			assert.Nil(t, strs)
		})
	}
	t.Run("a hand-built token in canonical form decodes", func(t *testing.T) {
		// The control for the hand-built tokens above: the same fields,
		// each varint in its shortest form.
		tok := reencode(tokResum([]byte{tokenVersion, tokenEvents, 0x0c, 0xac, 0x02, 1, 'a'}))
		nums, strs, err := decodeToken(tok, tokenEvents, 2, 1)
		require.NoError(t, err)
		assert.Equal(t, []uint64{12, 300}, nums)
		assert.Equal(t, []string{"a"}, strs)
		assert.Equal(t, encodeToken(tokenEvents, []uint64{12, 300}, []string{"a"}), tok)
	})
	t.Run("badToken is an invalid argument naming the page token", func(t *testing.T) {
		err := badToken("session")
		require.ErrorIs(t, err, ErrInvalidArgument)
		assert.Contains(t, err.Error(), "pageToken")
	})
}

// tokResum appends to body the checksum encodeToken would write, so that a
// test can build a token with a valid checksum around a broken body.
func tokResum(body []byte) []byte {
	out := append([]byte{}, body...)
	return binary.BigEndian.AppendUint32(out, crc32.ChecksumIEEE(body))
}

// CONTRACT E1 L2: changing any one character of a token to any other
// character makes it invalid: no edit goes unnoticed.
func TestTokenSingleCharacterEdits(t *testing.T) {
	tokens := []struct {
		name         string
		tok          string
		kind         byte
		nNums, nStrs int
	}{
		{"a sessions token", encodeToken(tokenSessions, nil, []string{"app", "user", "u1", "s1"}), tokenSessions, 0, 4},
		{"a sessions token one byte longer", encodeToken(tokenSessions, nil, []string{"app", "user", "u1", "s10"}), tokenSessions, 0, 4},
		{"a sessions token two bytes longer", encodeToken(tokenSessions, nil, []string{"app", "user", "u1", "s100"}), tokenSessions, 0, 4},
		{"an events token", encodeToken(tokenEvents, []uint64{12, 300}, []string{"app", "user", "s1"}), tokenEvents, 2, 3},
	}
	for _, tt := range tokens {
		t.Run("every one-character edit of "+tt.name+" is rejected", func(t *testing.T) {
			_, _, err := decodeToken(tt.tok, tt.kind, tt.nNums, tt.nStrs)
			require.NoError(t, err)
			var accepted []string
			for i := range len(tt.tok) {
				for _, c := range []byte(tokAlphabet) {
					if c == tt.tok[i] {
						continue
					}
					edited := tt.tok[:i] + string(c) + tt.tok[i+1:]
					if _, _, err := decodeToken(edited, tt.kind, tt.nNums, tt.nStrs); err == nil {
						accepted = append(accepted, edited)
					}
				}
			}
			assert.Empty(t, accepted, "edits of %s that decode", tt.tok)
		})
	}
	t.Run("a token with a line break inside is rejected", func(t *testing.T) {
		tok := tokens[0].tok
		for _, nl := range []string{"\n", "\r", "\r\n"} {
			edited := tok[:4] + nl + tok[4:]
			_, _, err := decodeToken(edited, tokenSessions, 0, 4)
			assert.Error(t, err, "%q", edited)
		}
	})
}

// CONTRACT B1 E1 L2: FuzzPageToken feeds decodeToken any string: it never
// panics, and what it accepts is exactly a token that encodeToken writes,
// so two different strings never name the same place in a listing.
func FuzzPageToken(f *testing.F) {
	f.Add(encodeToken(tokenSessions, nil, []string{"app", "user", "u1", "s1"}))
	f.Add(encodeToken(tokenEvents, []uint64{12, 300}, []string{"app", "user", "s1"}))
	f.Add(encodeToken(tokenEvents, []uint64{^uint64(0), 0}, []string{"", "\x00", "é"}))
	f.Add("")
	f.Add("AQ")
	f.Fuzz(func(t *testing.T, tok string) {
		for _, shape := range tokShapes {
			nums, strs, err := decodeToken(tok, shape.kind, shape.nNums, shape.nStrs)
			if err != nil {
				if nums != nil || strs != nil {
					t.Fatalf("a failed decode returned fields %v %q", nums, strs)
				}
				continue
			}
			if len(nums) != shape.nNums || len(strs) != shape.nStrs {
				t.Fatalf("decoded %d numbers and %d strings, want %d and %d", len(nums), len(strs), shape.nNums, shape.nStrs)
			}
			again := encodeToken(shape.kind, nums, strs)
			n2, s2, err := decodeToken(again, shape.kind, shape.nNums, shape.nStrs)
			if err != nil {
				t.Fatalf("the re-encoded token %q does not decode: %v", again, err)
			}
			if !slices.Equal(nums, n2) || !slices.Equal(strs, s2) {
				t.Fatalf("the re-encoded token decodes to %v %q, want %v %q", n2, s2, nums, strs)
			}
			if again != tok {
				t.Fatalf("%q decodes as a %s token but re-encodes as %q", tok, shape.name, again)
			}
		}
	})
}
