package container

import (
	"crypto/rand"
	"encoding/hex"
	"math/big"
	"regexp"
	"strconv"
	"strings"

	"github.com/berth-dev/berth/internal/errdefs"
)

// validName is Docker's container name rule.
var validName = regexp.MustCompile(`^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$`)

// NormalizeName validates a user-given name and returns it with its
// leading slash ("web" -> "/web").
func NormalizeName(name string) (string, error) {
	if !validName.MatchString(name) {
		return "", errdefs.InvalidArgumentf("Invalid container name (%s), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", name)
	}
	if !strings.HasPrefix(name, "/") {
		name = "/" + name
	}
	return name, nil
}

// NewID returns a random 64-hex container id whose 12-character short
// form is not all digits (it would read as a number), as Docker's ids.
func NewID() string {
	for {
		var b [32]byte
		if _, err := rand.Read(b[:]); err != nil {
			panic(err) // crypto/rand never fails on Linux
		}
		id := hex.EncodeToString(b[:])
		if _, err := strconv.ParseUint(id[:12], 10, 64); err == nil {
			continue
		}
		return id
	}
}

func randIntn(n int) int {
	v, err := rand.Int(rand.Reader, big.NewInt(int64(n)))
	if err != nil {
		panic(err)
	}
	return int(v.Int64())
}

// RandomName returns a generated name "adjective_surname" in the style of
// Docker's namesgenerator; retry > 0 appends a digit to lower the chance
// of a collision.
func RandomName(retry int) string {
	for {
		name := adjectives[randIntn(len(adjectives))] + "_" + surnames[randIntn(len(surnames))]
		if name == "boring_wozniak" { // Steve Wozniak is not boring (Docker's rule)
			continue
		}
		if retry > 0 {
			name += strconv.Itoa(randIntn(10))
		}
		return name
	}
}

var adjectives = []string{
	"admiring", "adoring", "affectionate", "agitated", "amazing", "angry", "awesome",
	"beautiful", "blissful", "bold", "boring", "brave", "busy", "charming", "clever",
	"compassionate", "competent", "condescending", "confident", "cool", "cranky", "crazy",
	"dazzling", "determined", "distracted", "dreamy", "eager", "ecstatic", "elastic",
	"elated", "elegant", "eloquent", "epic", "exciting", "fervent", "festive", "flamboyant",
	"focused", "friendly", "frosty", "funny", "gallant", "gifted", "goofy", "gracious",
	"great", "happy", "hardcore", "heuristic", "hopeful", "hungry", "infallible", "inspiring",
	"intelligent", "interesting", "jolly", "jovial", "keen", "kind", "laughing", "loving",
	"lucid", "magical", "modest", "musing", "mystifying", "naughty", "nervous", "nice",
	"nifty", "nostalgic", "objective", "optimistic", "peaceful", "pedantic", "pensive",
	"practical", "priceless", "quirky", "quizzical", "recursing", "relaxed", "reverent",
	"romantic", "sad", "serene", "sharp", "silly", "sleepy", "stoic", "strange", "stupefied",
	"suspicious", "sweet", "tender", "thirsty", "trusting", "unruffled", "upbeat", "vibrant",
	"vigilant", "vigorous", "wizardly", "wonderful", "xenodochial", "youthful", "zealous", "zen",
}

var surnames = []string{
	"agnesi", "albattani", "allen", "almeida", "archimedes", "ardinghelli", "aryabhata",
	"austin", "babbage", "banach", "bardeen", "bartik", "bassi", "bell", "benz", "bhabha",
	"bhaskara", "blackwell", "bohr", "booth", "borg", "bose", "boyd", "brahmagupta",
	"brattain", "brown", "carson", "cerf", "chandrasekhar", "chaplygin", "chatelet",
	"chebyshev", "clarke", "cohen", "colden", "cori", "cray", "curie", "darwin", "davinci",
	"dijkstra", "dubinsky", "easley", "edison", "einstein", "elion", "engelbart", "euclid",
	"euler", "faraday", "feistel", "fermat", "fermi", "feynman", "franklin", "galileo",
	"gates", "goldberg", "goldstine", "goldwasser", "golick", "goodall", "hamilton",
	"hawking", "heisenberg", "hermann", "hodgkin", "hoover", "hopper", "hugle", "hypatia",
	"jackson", "jang", "jennings", "jepsen", "johnson", "joliot", "jones", "kalam", "kare",
	"keldysh", "keller", "kepler", "khorana", "kilby", "kirch", "knuth", "kowalevski",
	"lalande", "lamarr", "lamport", "leakey", "leavitt", "lehmann", "lewin", "lichterman",
	"liskov", "lovelace", "lumiere", "mahavira", "margulis", "matsumoto", "maxwell",
	"mayer", "mccarthy", "mcclintock", "mclean", "meitner", "mendel", "mendeleev",
	"merkle", "mestorf", "minsky", "mirzakhani", "montalcini", "moore", "morse", "murdock",
	"napier", "nash", "neumann", "newton", "nightingale", "nobel", "noether", "northcutt",
	"noyce", "panini", "pare", "pascal", "pasteur", "payne", "perlman", "pike", "poincare",
	"poitras", "ptolemy", "raman", "ramanujan", "ride", "ritchie", "robinson", "roentgen",
	"rosalind", "saha", "sammet", "shamir", "shannon", "shaw", "shirley", "shockley",
	"sinoussi", "snyder", "spence", "stonebraker", "sutherland", "swanson", "swartz",
	"swirles", "taussig", "tesla", "tharp", "thompson", "torvalds", "turing", "varahamihira",
	"villani", "visvesvaraya", "volhard", "wescoff", "wiles", "williams", "wilson", "wing",
	"wozniak", "wright", "wu", "yalow", "yonath", "zhukovsky",
}
