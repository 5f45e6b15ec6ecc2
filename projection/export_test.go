package projection

// Len reports how many changes h holds.
func (h *History) Len() int {
	n := 0
	for _, c := range h.keys {
		n += c.n
	}
	return n
}

// HistoryLen reports how many changes the histories of a's app: and
// user: keys hold.
func HistoryLen(a *AppState) int {
	n := 0
	for _, s := range append([]Shared{a.State}, mapsValues(a.Users)...) {
		for _, e := range s {
			if e.changes != nil {
				n += e.changes.n
			}
		}
	}
	return n
}

func mapsValues(m map[string]Shared) []Shared {
	out := make([]Shared, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}
