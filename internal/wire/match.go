package wire

// IsResultSubject reports whether subject is ResultSubject(id), without building it: workers
// check every delivered call's reply subject against its ID.
func (n Names) IsResultSubject(subject, id string) bool {
	root := n.root()
	const mid = ".result."
	return len(subject) == len(root)+len(mid)+len(id) &&
		subject[:len(root)] == root && subject[len(root):len(root)+len(mid)] == mid && subject[len(root)+len(mid):] == id
}
