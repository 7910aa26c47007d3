// tlog-check: an outside check of a licence-vault transparency log, written against Go's
// golang.org/x/mod/sumdb/tlog and note packages (Debian's golang-golang-x-mod-dev), none of
// whose code is the vault's. It fetches the log's checkpoint, tiles and entry bundles over HTTP
// as C2SP tlog-tiles serves them, and checks:
//
//   - the checkpoint's signature, with the verifier key given (note.Open);
//   - that the tiles give the checkpoint's root (tlog.TileHashReader checks every tile it reads
//     against the tree) and that every entry's record hash is the leaf the tree holds;
//   - with -leaf, the vault's C2SP tlog-proof of that leaf (tlog.CheckRecord);
//   - with -old, that the current tree extends the old checkpoint (tlog.ProveTree from tiles,
//     tlog.CheckTree), and that the vault's own consistency proof holds too.
//
// Build offline: GO111MODULE=off GOPATH=/usr/share/gocode go build -o tlog-check .
// Output: one JSON line; exit status 0 only when every check held.
package main

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

const height = 8

type result struct {
	Origin         string `json:"origin"`
	Size           int64  `json:"size"`
	Root           string `json:"root"`
	EntriesHashed  int64  `json:"entriesHashed"`
	LeafIndex      *int64 `json:"leafIndex,omitempty"`
	ConsistentFrom *int64 `json:"consistentFrom,omitempty"`
	Tiles          int    `json:"tilesFetched"`
}

var base, logName string
var fetched int

func get(path string) ([]byte, error) {
	resp, err := http.Get(base + path)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("GET %s: %d %s", path, resp.StatusCode, b)
	}
	return b, nil
}

// tiles reads C2SP tiles: Go's tile paths carry the height (tile/8/L/N) and call the entry
// bundles "data"; C2SP's do not and call them "entries".
type tiles struct{}

func (tiles) Height() int { return height }

func c2spPath(t tlog.Tile) string {
	p := strings.TrimPrefix(t.Path(), "tile/8/")
	p = strings.Replace(p, "data/", "entries/", 1)
	return "/log/" + logName + "/tile/" + p
}

func (tiles) ReadTiles(ts []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(ts))
	for i, t := range ts {
		b, err := get(c2spPath(t))
		if err != nil {
			return nil, err
		}
		fetched++
		out[i] = b
	}
	return out, nil
}

func (tiles) SaveTiles([]tlog.Tile, [][]byte) {}

type checkpoint struct {
	origin string
	tree   tlog.Tree
}

// open verifies a signed checkpoint with the verifier key and parses its three lines.
func open(text []byte, v note.Verifier) (checkpoint, error) {
	n, err := note.Open(text, note.VerifierList(v))
	if err != nil {
		return checkpoint{}, fmt.Errorf("checkpoint signature: %w", err)
	}
	lines := strings.Split(n.Text, "\n")
	if len(lines) != 4 || lines[3] != "" {
		return checkpoint{}, errors.New("a checkpoint is three lines")
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 0 || (len(lines[1]) > 1 && lines[1][0] == '0') {
		return checkpoint{}, errors.New("bad checkpoint size")
	}
	root, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(root) != tlog.HashSize {
		return checkpoint{}, errors.New("bad checkpoint root")
	}
	var h tlog.Hash
	copy(h[:], root)
	return checkpoint{origin: lines[0], tree: tlog.Tree{N: size, Hash: h}}, nil
}

// entries reads every entry bundle of the tree and checks each entry against the tree.
func entries(tree tlog.Tree, r tlog.HashReader) (int64, error) {
	var n int64
	for start := int64(0); start < tree.N; start += 1 << height {
		w := tree.N - start
		if w > 1<<height {
			w = 1 << height
		}
		t := tlog.Tile{H: height, L: -1, N: start >> height, W: int(w)}
		b, err := get(c2spPath(t))
		if err != nil {
			return n, err
		}
		for i := int64(0); i < w; i++ {
			if len(b) < 2 {
				return n, errors.New("a bundle cut inside a length")
			}
			l := int(binary.BigEndian.Uint16(b))
			if len(b) < 2+l {
				return n, errors.New("a bundle cut inside an entry")
			}
			data := b[2 : 2+l]
			b = b[2+l:]
			hs, err := r.ReadHashes([]int64{tlog.StoredHashIndex(0, start+i)})
			if err != nil {
				return n, err
			}
			if hs[0] != tlog.RecordHash(data) {
				return n, fmt.Errorf("entry %d does not hash to the tree's leaf %d", start+i, start+i)
			}
			n++
		}
		if len(b) != 0 {
			return n, errors.New("a bundle with more entries than its width")
		}
	}
	return n, nil
}

// leafProof checks the vault's C2SP tlog-proof of a leaf hash.
func leafProof(leaf string, v note.Verifier, r tlog.HashReader) (int64, error) {
	b, err := get("/v1/logs/" + logName + "/proof?leaf=" + url.QueryEscape(leaf))
	if err != nil {
		return 0, err
	}
	head, cpText, ok := strings.Cut(string(b), "\n\n")
	if !ok {
		return 0, errors.New("a proof without its checkpoint")
	}
	lines := strings.Split(head, "\n")
	if lines[0] != "c2sp.org/tlog-proof@v1" || len(lines) < 2 || !strings.HasPrefix(lines[1], "index ") {
		return 0, errors.New("not a c2sp.org/tlog-proof@v1")
	}
	index, err := strconv.ParseInt(strings.TrimPrefix(lines[1], "index "), 10, 64)
	if err != nil {
		return 0, err
	}
	var proof tlog.RecordProof
	for _, l := range lines[2:] {
		h, err := base64.StdEncoding.DecodeString(l)
		if err != nil || len(h) != tlog.HashSize {
			return 0, errors.New("a proof line that is not a hash")
		}
		var x tlog.Hash
		copy(x[:], h)
		proof = append(proof, x)
	}
	cp, err := open([]byte(cpText), v)
	if err != nil {
		return 0, err
	}
	raw, err := base64.StdEncoding.DecodeString(leaf)
	if err != nil || len(raw) != tlog.HashSize {
		return 0, errors.New("bad leaf hash")
	}
	var lh tlog.Hash
	copy(lh[:], raw)
	if err := tlog.CheckRecord(proof, cp.tree.N, cp.tree.Hash, index, lh); err != nil {
		return 0, fmt.Errorf("the vault's proof of the leaf: %w", err)
	}
	// And the same proof made from the tiles.
	p2, err := tlog.ProveRecord(cp.tree.N, index, tlog.TileHashReader(cp.tree, tiles{}))
	if err != nil {
		return 0, err
	}
	if err := tlog.CheckRecord(p2, cp.tree.N, cp.tree.Hash, index, lh); err != nil {
		return 0, fmt.Errorf("the tiles' proof of the leaf: %w", err)
	}
	return index, nil
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "tlog-check:", err)
	os.Exit(1)
}

func main() {
	flag.StringVar(&base, "url", "", "the vault's base URL")
	flag.StringVar(&logName, "log", "public", "the log: public or access")
	key := flag.String("key", "", "the checkpoint's verifier key (name+id+key)")
	leaf := flag.String("leaf", "", "a leaf hash (base64) to prove")
	old := flag.String("old", "", "a file with an earlier signed checkpoint the tree must extend")
	flag.Parse()
	v, err := note.NewVerifier(*key)
	if err != nil {
		fail(fmt.Errorf("verifier key: %w", err))
	}
	b, err := get("/log/" + logName + "/checkpoint")
	if err != nil {
		fail(err)
	}
	cp, err := open(b, v)
	if err != nil {
		fail(err)
	}
	r := tlog.TileHashReader(cp.tree, tiles{})
	root, err := tlog.TreeHash(cp.tree.N, r)
	if err != nil {
		fail(fmt.Errorf("tree hash from tiles: %w", err))
	}
	if root != cp.tree.Hash {
		fail(errors.New("the tiles do not give the checkpoint's root"))
	}
	res := result{Origin: cp.origin, Size: cp.tree.N, Root: root.String()}
	if res.EntriesHashed, err = entries(cp.tree, r); err != nil {
		fail(err)
	}
	if *leaf != "" {
		i, err := leafProof(*leaf, v, r)
		if err != nil {
			fail(err)
		}
		res.LeafIndex = &i
	}
	if *old != "" {
		text, err := os.ReadFile(*old)
		if err != nil {
			fail(err)
		}
		o, err := open(text, v)
		if err != nil {
			fail(fmt.Errorf("old checkpoint: %w", err))
		}
		if o.origin != cp.origin {
			fail(errors.New("the old checkpoint is of another log"))
		}
		p, err := tlog.ProveTree(cp.tree.N, o.tree.N, r)
		if err != nil {
			fail(err)
		}
		if err := tlog.CheckTree(p, cp.tree.N, cp.tree.Hash, o.tree.N, o.tree.Hash); err != nil {
			fail(fmt.Errorf("the tree does not extend the old checkpoint: %w", err))
		}
		var c struct {
			Proof []string `json:"proof"`
		}
		b, err := get(fmt.Sprintf("/v1/logs/%s/consistency?from=%d&to=%d", logName, o.tree.N, cp.tree.N))
		if err != nil {
			fail(err)
		}
		if err := json.Unmarshal(b, &c); err != nil {
			fail(err)
		}
		var vp tlog.TreeProof
		for _, s := range c.Proof {
			h, err := base64.StdEncoding.DecodeString(s)
			if err != nil || len(h) != tlog.HashSize {
				fail(errors.New("the vault's consistency proof has a bad hash"))
			}
			var x tlog.Hash
			copy(x[:], h)
			vp = append(vp, x)
		}
		if err := tlog.CheckTree(vp, cp.tree.N, cp.tree.Hash, o.tree.N, o.tree.Hash); err != nil {
			fail(fmt.Errorf("the vault's consistency proof: %w", err))
		}
		res.ConsistentFrom = &o.tree.N
	}
	res.Tiles = fetched
	out, _ := json.Marshal(res)
	fmt.Println(string(out))
}
