package pytorch

import (
	"strings"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/internal/pickle"
)

// moduleSource is what a legacy full-model pickle says about one nn.Module class: the
// legacy pickler replaces each class, the first time it meets it, with the persistent
// id ('module', class, source file, source), so that torch.load can warn when the code
// changed. Refit only reports it; the source is never run.
type moduleSource struct {
	class  string // "module.Name"
	file   string // source file on the machine that saved it, or ""
	source string // the class's source text, or ""
}

// legacyLoader resolves the persistent ids of a legacy file: storages, and module
// classes (which become the inert class that NEWOBJ / copyreg._reconstructor record).
type legacyLoader struct {
	storages map[string]*storage
	modules  []moduleSource
	seen     map[string]bool
}

func (l *legacyLoader) load(pid any) (any, error) {
	if t, ok := pid.(pickle.Tuple); ok && len(t) > 0 && t[0] == "module" {
		return l.module(t)
	}
	return storageFromPID(pid, l.storages)
}

// module interprets ('module', class, source_file, source); either string may be None
// when torch could not find the source. torch.load only compares them with the current
// source, so anything else there is ignored rather than refused.
func (l *legacyLoader) module(t pickle.Tuple) (any, error) {
	if len(t) != 4 {
		return nil, errorf("module persistent id with %d fields, want 4", len(t))
	}
	cls, ok := t[1].(*pickle.Class)
	if !ok {
		return nil, errorf("module persistent id names %T, not a class", t[1])
	}
	file, _ := t[2].(string)
	src, _ := t[3].(string)
	if name := cls.String(); !l.seen[name] {
		l.seen[name] = true
		l.modules = append(l.modules, moduleSource{class: name, file: file, source: src})
	}
	return cls, nil
}

// addModuleMetadata records the module classes of a legacy full-model pickle:
// "pytorch.modules" lists them in the order the pickle names them, and
// "pytorch.module_file.<class>" / "pytorch.module_source.<class>" hold what torch saved.
func addModuleMetadata(m *refit.Model, modules []moduleSource) {
	if len(modules) == 0 {
		return
	}
	names := make([]string, len(modules))
	for i, mod := range modules {
		names[i] = mod.class
	}
	m.Metadata.Set("pytorch.modules", strings.Join(names, ", "))
	for _, mod := range modules {
		if mod.file != "" {
			m.Metadata.Set("pytorch.module_file."+mod.class, mod.file)
		}
		if mod.source != "" {
			m.Metadata.Set("pytorch.module_source."+mod.class, mod.source)
		}
	}
}
