package wire

import "strconv"

// Version is the wire version of this build: the layout of names, subjects, headers and
// records described in the package comment. Version 1 is the layout jetray has used since
// its first release; namespaces and the extension tokens (route, group) are additions to it
// that older builds never produce and safely ignore, so they keep version 1.
//
// The version changes when a name, subject, header or record field that a running
// deployment uses changes its form or meaning; builds of different versions must then not
// share a deployment (a namespace).
const Version = 1

// Metadata keys jetray sets on every stream, KV bucket and object store it creates.
const (
	// MetadataVersion records the wire version (decimal) of the deployment that created the
	// resource. A resource without it was created before versions were recorded: version 1.
	MetadataVersion = "jetray_wire"
	// MetadataNamespace records the namespace of the resource; absent in the default one.
	MetadataNamespace = "jetray_namespace"
)

// Metadata returns the metadata to set on each stream, KV bucket and object store of the
// namespace when creating it: MetadataVersion, and MetadataNamespace unless the namespace is
// the default. The map is new on every call; the caller may add to it.
func (n Names) Metadata() map[string]string {
	m := map[string]string{MetadataVersion: strconv.Itoa(Version)}
	if n.ns != "" {
		m[MetadataNamespace] = n.ns
	}
	return m
}

// CheckVersion compares the wire version recorded in the metadata of an existing resource
// with Version. resource names it in the error, such as "stream JETRAY_TASKS". Metadata
// without MetadataVersion reads as version 1. Errors: a *VersionError (errors.Is
// ErrWireVersion) naming both versions when they differ.
func CheckVersion(resource string, metadata map[string]string) error {
	have, ok := metadata[MetadataVersion]
	if !ok {
		have = "1"
	}
	if have != strconv.Itoa(Version) {
		return &VersionError{Resource: resource, Have: have, Want: Version}
	}
	return nil
}
