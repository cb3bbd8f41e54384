package proc

import (
	"strings"
	"testing"
)

func TestCapture(t *testing.T) {
	tests := []struct {
		name    string
		limit   int
		chunks  []string
		secrets []string
		want    string
	}{
		{"under limit", 10, []string{"abc", "def"}, nil, "abcdef"},
		{"exactly limit", 6, []string{"abc", "def"}, nil, "abcdef"},
		{"keeps tail", 4, []string{"abc", "def"}, nil, "[... 2 bytes truncated ...]\ncdef"},
		{"one big write", 3, []string{strings.Repeat("x", 100) + "end"}, nil, "[... 100 bytes truncated ...]\nend"},
		{"redacts inside", 100, []string{"a SECRET b"}, []string{"SECRET"}, "a [redacted] b"},
		{"secret split across writes", 100, []string{"a SEC", "RET b"}, []string{"SECRET"}, "a [redacted] b"},
		// The naive cut would keep "GHyyyy": the tail of the secret.
		{"secret straddles the cut", 6, []string{"xxxxABCD", "EFGHyyyy"}, []string{"ABCDEFGH"}, "[... 12 bytes truncated ...]\nyyyy"},
		{"secret inside the tail", 10, []string{"xxxxxxxxxxxxABCDEFGHyy"}, []string{"ABCDEFGH"}, "[... 12 bytes truncated ...]\n[redacted]yy"},
		{"short secrets ignored", 100, []string{"abc"}, []string{"abc"}, "abc"},
		{"cut moves off a partial rune", 4, []string{"aé€"}, nil, "[... 3 bytes truncated ...]\n€"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCapture(tt.limit, tt.secrets)
			for _, ch := range tt.chunks {
				if n, err := c.Write([]byte(ch)); n != len(ch) || err != nil {
					t.Fatalf("Write = %d, %v", n, err)
				}
			}
			if got := c.String(tt.secrets); got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// FuzzCapture checks the two promises of capture for any input and any
// chunking: a secret never shows, even when it straddles the cut; and
// without secrets the kept text is exactly a bounded tail of the input.
func FuzzCapture(f *testing.F) {
	f.Add([]byte("hello world, this is output"), []byte("KEY"), uint8(5), uint8(3))
	f.Add([]byte("xxxxABCDEFGHyyyy"), []byte("ABCDEFGH"), uint8(6), uint8(8))
	f.Fuzz(func(t *testing.T, data, secretSeed []byte, limit, chunk uint8) {
		if limit == 0 || chunk == 0 {
			return
		}
		// Upper-case letters never occur in "[redacted]" or in the marker, so
		// the replacement text cannot itself spell a secret.
		secret := make([]byte, len(secretSeed)%12)
		for i := range secret {
			secret[i] = 'A' + secretSeed[i]%26
		}
		var secrets []string
		if len(secret) >= 4 {
			secrets = []string{string(secret)}
			data = append(append(append([]byte{}, data...), secret...), data...)
		}
		c := newCapture(int(limit), secrets)
		for rest := data; len(rest) > 0; {
			n := min(int(chunk), len(rest))
			_, _ = c.Write(rest[:n])
			rest = rest[n:]
		}
		got := c.String(secrets)
		body := got
		if i := strings.Index(got, " bytes truncated ...]\n"); strings.HasPrefix(got, "[... ") && i > 0 {
			body = got[i+len(" bytes truncated ...]\n"):]
		}
		if len(secrets) > 0 {
			if strings.Contains(got, secrets[0]) {
				t.Fatalf("secret %q in %q", secrets[0], got)
			}
			return
		}
		if !strings.HasSuffix(string(data), body) {
			t.Fatalf("%q is not a tail of %q", body, data)
		}
		if len(data) <= int(limit) && got != string(data) {
			t.Fatalf("short output changed: %q", got)
		}
		if len(body) > int(limit) {
			t.Fatalf("kept %d bytes, limit %d", len(body), limit)
		}
	})
}
