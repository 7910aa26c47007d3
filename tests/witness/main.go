// witness: a small C2SP tlog-witness for the test suite, written against Go's standard library
// and golang.org/x/mod's sumdb/note and sumdb/tlog (Debian's golang-golang-x-mod-dev), so that the
// vault's witness client is checked by code that is not the vault's.
//
// POST /add-checkpoint: verifies the checkpoint's signature by a log key it was given (note.Open),
// checks the consistency proof from the size it last cosigned (tlog.CheckTree), records the new
// size and root (atomically with the check), and answers an Ed25519 cosignature/v1 line.
// Statuses as the spec says: 404 unknown origin, 403 no trusted signature, 400 bad request or old
// size beyond the checkpoint, 409 (text/x.tlog.size) old size not the last cosigned, 422 a proof
// that does not verify.
//
// Build offline: GO111MODULE=off GOPATH=/usr/share/gocode go build -o witness .
// Run: witness -listen 127.0.0.1:0 -name NAME -seed HEX32 -log VKEY [-log VKEY]...
// It prints its cosigner key (name+id+base64(0x04 ‖ key)), then "listening on ADDR".
package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

type logKeys []string

func (l *logKeys) String() string     { return strings.Join(*l, ",") }
func (l *logKeys) Set(s string) error { *l = append(*l, s); return nil }

type seen struct {
	size int64
	root tlog.Hash
}

type witness struct {
	name      string
	key       ed25519.PrivateKey
	keyID     []byte
	verifiers map[string][]note.Verifier // origin → its keys
	mu        sync.Mutex
	latest    map[string]seen
}

func keyID(name string, pub ed25519.PublicKey) []byte {
	h := sha256.New()
	h.Write([]byte(name + "\n"))
	h.Write([]byte{0x04})
	h.Write(pub)
	return h.Sum(nil)[:4]
}

func (w *witness) addCheckpoint(rw http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(rw, "POST only", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(rw, "bad body", http.StatusBadRequest)
		return
	}
	head, cp, ok := strings.Cut(string(body), "\n\n")
	if !ok {
		http.Error(rw, "no checkpoint", http.StatusBadRequest)
		return
	}
	lines := strings.Split(head, "\n")
	if !strings.HasPrefix(lines[0], "old ") {
		http.Error(rw, "no old size", http.StatusBadRequest)
		return
	}
	oldText := strings.TrimPrefix(lines[0], "old ")
	old, err := strconv.ParseInt(oldText, 10, 64)
	if err != nil || old < 0 || (len(oldText) > 1 && oldText[0] == '0') {
		http.Error(rw, "bad old size", http.StatusBadRequest)
		return
	}
	var proof tlog.TreeProof
	for _, l := range lines[1:] {
		h, err := base64.StdEncoding.DecodeString(l)
		if err != nil || len(h) != tlog.HashSize {
			http.Error(rw, "bad proof line", http.StatusBadRequest)
			return
		}
		var x tlog.Hash
		copy(x[:], h)
		proof = append(proof, x)
	}
	if len(proof) > 63 {
		http.Error(rw, "too many proof lines", http.StatusBadRequest)
		return
	}
	origin, _, _ := strings.Cut(cp, "\n")
	vs, known := w.verifiers[origin]
	if !known {
		http.Error(rw, "unknown log", http.StatusNotFound)
		return
	}
	n, err := note.Open([]byte(cp), note.VerifierList(vs...))
	if err != nil {
		http.Error(rw, "no valid signature by the log: "+err.Error(), http.StatusForbidden)
		return
	}
	parts := strings.Split(n.Text, "\n")
	if len(parts) < 4 {
		http.Error(rw, "bad checkpoint", http.StatusBadRequest)
		return
	}
	size, err := strconv.ParseInt(parts[1], 10, 64)
	root, err2 := base64.StdEncoding.DecodeString(parts[2])
	if err != nil || err2 != nil || len(root) != tlog.HashSize {
		http.Error(rw, "bad checkpoint", http.StatusBadRequest)
		return
	}
	var rh tlog.Hash
	copy(rh[:], root)
	if old > size {
		http.Error(rw, "old size beyond the checkpoint", http.StatusBadRequest)
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	last := w.latest[origin]
	if old != last.size {
		rw.Header().Set("Content-Type", "text/x.tlog.size")
		rw.WriteHeader(http.StatusConflict)
		fmt.Fprintf(rw, "%d\n", last.size)
		return
	}
	switch {
	case old == 0:
		if len(proof) != 0 {
			http.Error(rw, "a proof from the empty tree", http.StatusUnprocessableEntity)
			return
		}
	case old == size:
		if rh != last.root {
			http.Error(rw, "same size, another root", http.StatusUnprocessableEntity)
			return
		}
	default:
		if err := tlog.CheckTree(proof, size, rh, old, last.root); err != nil {
			http.Error(rw, "inconsistent: "+err.Error(), http.StatusUnprocessableEntity)
			return
		}
	}
	w.latest[origin] = seen{size: size, root: rh}
	now := uint64(time.Now().Unix())
	msg := fmt.Sprintf("cosignature/v1\ntime %d\n%s", now, n.Text)
	sig := ed25519.Sign(w.key, []byte(msg))
	var b bytes.Buffer
	b.Write(w.keyID)
	_ = binary.Write(&b, binary.BigEndian, now)
	b.Write(sig)
	fmt.Fprintf(rw, "\u2014 %s %s\n", w.name, base64.StdEncoding.EncodeToString(b.Bytes()))
}

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address")
	name := flag.String("name", "", "the witness's name")
	seed := flag.String("seed", "", "32-byte Ed25519 seed, hex")
	var logs logKeys
	flag.Var(&logs, "log", "a log's verifier key (repeat)")
	flag.Parse()
	s, err := hex.DecodeString(*seed)
	if err != nil || len(s) != ed25519.SeedSize || *name == "" {
		fmt.Fprintln(os.Stderr, "witness: -name and a 32-byte hex -seed are needed")
		os.Exit(2)
	}
	key := ed25519.NewKeyFromSeed(s)
	pub := key.Public().(ed25519.PublicKey)
	w := &witness{name: *name, key: key, keyID: keyID(*name, pub),
		verifiers: map[string][]note.Verifier{}, latest: map[string]seen{}}
	for _, k := range logs {
		v, err := note.NewVerifier(k)
		if err != nil {
			fmt.Fprintln(os.Stderr, "witness: -log:", err)
			os.Exit(2)
		}
		w.verifiers[v.Name()] = append(w.verifiers[v.Name()], v)
	}
	l, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, "witness:", err)
		os.Exit(1)
	}
	fmt.Printf("%s+%x+%s\n", *name, w.keyID, base64.StdEncoding.EncodeToString(append([]byte{0x04}, pub...)))
	fmt.Printf("listening on %s\n", l.Addr())
	mux := http.NewServeMux()
	mux.HandleFunc("/add-checkpoint", w.addCheckpoint)
	if err := http.Serve(l, mux); err != nil {
		fmt.Fprintln(os.Stderr, "witness:", err)
		os.Exit(1)
	}
}
