//! The shape of the code, checked like any other behaviour: the arrows between files point one
//! way, no product file or function grows past what a reader can hold. ARCHITECTURE.md says
//! why; these tests keep it true.
//!
//! The file graph: every `.rs` file of a crate's `src/` is a node. A path in a file that names an
//! item of another file of the same crate (`use crate::a::B`, `use super::c::D`, or an inline
//! `crate::a::f(...)`) is an arrow to the file that defines the item; a path to a re-export is
//! followed to where the item is defined. `mod` declarations are containment and `pub use`
//! re-exports hand names on: neither is an arrow. Test modules (`#[cfg(test)]` and files named
//! `tests.rs`) are left out.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// The crates whose `src/` is product code (`.` is the root package, the binary).
const CRATES: &[&str] = &["core", "macros", "web", "bot", "."];
const MAX_FILE_LINES: usize = 900;
const MAX_FN_LINES: usize = 120;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the workspace")
        .to_path_buf()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path);
        }
    }
}

/// A file's text up to its first test module (`#[cfg(test)]`, or a `cfg` naming `test`, at the
/// start of a line).
fn product_text(text: &str) -> String {
    let mut kept = String::new();
    for line in text.lines() {
        if line.starts_with("#[cfg(") && line.contains("test") {
            break;
        }
        kept.push_str(line);
        kept.push('\n');
    }
    kept
}

fn is_test_file(path: &Path) -> bool {
    path.file_name().is_some_and(|name| name == "tests.rs")
}

/// One crate's modules: module path (`["store", "sql"]`) to file.
struct Crate {
    files: BTreeMap<Vec<String>, PathBuf>,
}

impl Crate {
    fn read(dir: &Path) -> Crate {
        let root = dir.join("src");
        let mut paths = Vec::new();
        rust_files(&root, &mut paths);
        let mut files = BTreeMap::new();
        for path in paths {
            if is_test_file(&path) {
                continue;
            }
            let relative = path.strip_prefix(&root).expect("under src");
            let mut module: Vec<String> = relative
                .iter()
                .map(|part| part.to_string_lossy().trim_end_matches(".rs").to_owned())
                .collect();
            if matches!(module.last().map(String::as_str), Some("mod" | "lib")) {
                module.pop();
            }
            files.insert(module, path);
        }
        Crate { files }
    }

    /// The file that defines `name` when it is reached as `module::name`, following `pub use`
    /// re-exports (a few hops at most).
    fn defining_file(&self, module: &[String], rest: &[String], hops: usize) -> Option<PathBuf> {
        // The longest prefix of `rest` that is still a module of its own.
        let mut module = module.to_vec();
        let mut rest = rest.to_vec();
        while let Some(first) = rest.first() {
            let mut deeper = module.clone();
            deeper.push(first.clone());
            if self.files.contains_key(&deeper) {
                module = deeper;
                rest.remove(0);
            } else {
                break;
            }
        }
        // Inside an inline module: the file that holds it.
        while !self.files.contains_key(&module) && !module.is_empty() {
            module.pop();
        }
        let file = self.files.get(&module)?;
        let Some(item) = rest.first() else {
            return Some(file.clone());
        };
        if hops > 0 {
            let text = product_text(&fs::read_to_string(file).ok()?);
            for statement in use_statements(&text) {
                if !statement.public {
                    continue;
                }
                for (path, alias) in expand(&statement.tree) {
                    if &alias == item
                        && let Some(target) = self.resolve(&module, &path, hops - 1)
                    {
                        return Some(target);
                    }
                }
            }
        }
        Some(file.clone())
    }

    /// Where a path written in `module` leads, if it stays inside this crate.
    fn resolve(&self, module: &[String], path: &[String], hops: usize) -> Option<PathBuf> {
        let (base, rest) = match path.first().map(String::as_str) {
            Some("crate") => (Vec::new(), &path[1..]),
            Some("self") => (module.to_vec(), &path[1..]),
            Some("super") => {
                let mut base = module.to_vec();
                let mut rest = path;
                while rest.first().map(String::as_str) == Some("super") {
                    base.pop();
                    rest = &rest[1..];
                }
                (base, rest)
            }
            // A child module named in a plain `use child::X` of its parent.
            Some(first) => {
                let mut child = module.to_vec();
                child.push(first.to_owned());
                if !self.files.contains_key(&child) {
                    return None;
                }
                (module.to_vec(), path)
            }
            None => return None,
        };
        self.defining_file(&base, rest, hops)
    }
}

struct UseStatement {
    public: bool,
    /// The inline modules (`mod name { ... }`) the statement sits in.
    scope: Vec<String>,
    tree: String,
}

/// Each line with the inline modules it sits in, by rustfmt's indentation.
fn scoped_lines(text: &str) -> Vec<(Vec<String>, &str)> {
    let mut open: Vec<(usize, String)> = Vec::new();
    let mut lines = Vec::new();
    for line in text.lines() {
        let indent = line.len() - line.trim_start().len();
        let trimmed = line.trim();
        if trimmed == "}" && open.last().is_some_and(|(at, _)| *at == indent) {
            open.pop();
        }
        lines.push((open.iter().map(|(_, name)| name.clone()).collect(), line));
        let declared = trimmed
            .trim_start_matches("pub(crate) ")
            .trim_start_matches("pub(super) ")
            .trim_start_matches("pub ");
        if let Some(name) = declared
            .strip_prefix("mod ")
            .and_then(|rest| rest.strip_suffix(" {"))
        {
            open.push((indent, name.to_owned()));
        }
    }
    lines
}

/// Every `use` statement of a text, joined onto one line each.
fn use_statements(text: &str) -> Vec<UseStatement> {
    let mut statements = Vec::new();
    let mut current: Option<(bool, Vec<String>, String)> = None;
    for (scope, line) in scoped_lines(text) {
        let trimmed = line.trim();
        if current.is_none() {
            let (public, rest) = if let Some(rest) = trimmed.strip_prefix("pub use ") {
                (true, rest)
            } else if let Some(rest) = trimmed.strip_prefix("pub(crate) use ") {
                (true, rest)
            } else if let Some(rest) = trimmed.strip_prefix("use ") {
                (false, rest)
            } else {
                continue;
            };
            current = Some((public, scope, rest.to_owned()));
        } else if let Some((_, _, tree)) = current.as_mut() {
            tree.push_str(trimmed);
        }
        if let Some((public, scope, tree)) = current.take_if(|(_, _, tree)| tree.ends_with(';')) {
            statements.push(UseStatement {
                public,
                scope,
                tree: tree.trim_end_matches(';').to_owned(),
            });
        }
    }
    statements
}

/// A use tree (`a::{b, c::{d as e}}`) as its leaf paths, each with the name it binds.
fn expand(tree: &str) -> Vec<(Vec<String>, String)> {
    fn walk(prefix: &[String], tree: &str, out: &mut Vec<(Vec<String>, String)>) {
        let tree = tree.trim();
        if let Some(open) = tree.find('{') {
            let head: Vec<String> = tree[..open]
                .split("::")
                .filter(|part| !part.is_empty())
                .map(str::to_owned)
                .collect();
            let mut base = prefix.to_vec();
            base.extend(head);
            let close = tree
                .rfind('}')
                .filter(|&close| close > open)
                .unwrap_or(tree.len());
            let inner = &tree[open + 1..close];
            let mut depth = 0;
            let mut start = 0;
            for (index, character) in inner.char_indices() {
                match character {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        walk(&base, &inner[start..index], out);
                        start = index + 1;
                    }
                    _ => {}
                }
            }
            walk(&base, &inner[start..], out);
            return;
        }
        if tree.is_empty() {
            return;
        }
        let (path, alias) = match tree.split_once(" as ") {
            Some((path, alias)) => (path.trim(), Some(alias.trim())),
            None => (tree, None),
        };
        let mut full = prefix.to_vec();
        full.extend(
            path.split("::")
                .filter(|part| !part.is_empty())
                .map(str::to_owned),
        );
        let Some(last) = full.last().cloned() else {
            return;
        };
        if last == "self" {
            full.pop();
        }
        let bound = alias.map_or_else(|| full.last().cloned().unwrap_or_default(), str::to_owned);
        out.push((full, bound));
    }
    let mut out = Vec::new();
    walk(&[], tree, &mut out);
    out
}

/// Inline paths in code: `crate::a::b`, `super::c`, `self::d` outside `use` lines and comments.
fn inline_paths(text: &str) -> Vec<(Vec<String>, Vec<String>)> {
    let mut paths = Vec::new();
    for (scope, line) in scoped_lines(text) {
        let code = line.split("//").next().unwrap_or("");
        let trimmed = code.trim_start();
        if trimmed.starts_with("use ") || trimmed.starts_with("pub use ") {
            continue;
        }
        for start in ["crate::", "super::", "self::"] {
            let mut from = 0;
            while let Some(found) = code[from..].find(start) {
                let begin = from + found;
                let boundary = code[..begin]
                    .chars()
                    .next_back()
                    .is_none_or(|c| !(c.is_alphanumeric() || c == '_' || c == ':'));
                let path: String = code[begin..]
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                    .collect();
                from = begin + path.len().max(1);
                if boundary {
                    let path = path
                        .split("::")
                        .filter(|part| !part.is_empty())
                        .map(str::to_owned)
                        .collect();
                    paths.push((scope.clone(), path));
                }
            }
        }
    }
    paths
}

/// The file graph of one crate: file -> the files it takes names from, with the names.
fn graph(krate: &Crate) -> BTreeMap<PathBuf, BTreeMap<PathBuf, BTreeSet<String>>> {
    let mut edges: BTreeMap<PathBuf, BTreeMap<PathBuf, BTreeSet<String>>> = BTreeMap::new();
    for (module, file) in &krate.files {
        let text = product_text(&fs::read_to_string(file).expect("readable source"));
        // A `pub use` hands a name on and is followed through; it is not an arrow itself.
        let mut paths: Vec<(Vec<String>, Vec<String>)> = use_statements(&text)
            .iter()
            .filter(|statement| !statement.public)
            .flat_map(|statement| {
                expand(&statement.tree)
                    .into_iter()
                    .map(|(path, _)| (statement.scope.clone(), path))
            })
            .collect();
        paths.extend(inline_paths(&text));
        let arrows = edges.entry(file.clone()).or_default();
        for (scope, path) in paths {
            let mut within = module.clone();
            within.extend(scope);
            if let Some(target) = krate.resolve(&within, &path, 4)
                && &target != file
            {
                arrows.entry(target).or_default().insert(path.join("::"));
            }
        }
    }
    edges
}

/// Strongly connected components with more than one file (Tarjan).
fn circles(edges: &BTreeMap<PathBuf, BTreeMap<PathBuf, BTreeSet<String>>>) -> Vec<Vec<PathBuf>> {
    struct Walk<'a> {
        edges: &'a BTreeMap<PathBuf, BTreeMap<PathBuf, BTreeSet<String>>>,
        index: BTreeMap<&'a PathBuf, usize>,
        low: BTreeMap<&'a PathBuf, usize>,
        stack: Vec<&'a PathBuf>,
        on_stack: BTreeSet<&'a PathBuf>,
        next: usize,
        found: Vec<Vec<PathBuf>>,
    }
    impl<'a> Walk<'a> {
        fn visit(&mut self, node: &'a PathBuf) {
            self.index.insert(node, self.next);
            self.low.insert(node, self.next);
            self.next += 1;
            self.stack.push(node);
            self.on_stack.insert(node);
            let targets = self
                .edges
                .get(node)
                .into_iter()
                .flat_map(|arrows| arrows.keys());
            for target in targets {
                if !self.index.contains_key(target) {
                    self.visit(target);
                    let low = self.low[node].min(self.low[target]);
                    self.low.insert(node, low);
                } else if self.on_stack.contains(target) {
                    let low = self.low[node].min(self.index[target]);
                    self.low.insert(node, low);
                }
            }
            if self.low[node] == self.index[node] {
                let mut component = Vec::new();
                while let Some(member) = self.stack.pop() {
                    self.on_stack.remove(member);
                    component.push(member.clone());
                    if member == node {
                        break;
                    }
                }
                if component.len() > 1 {
                    component.sort();
                    self.found.push(component);
                }
            }
        }
    }
    let mut walk = Walk {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        next: 0,
        found: Vec::new(),
    };
    for node in edges.keys() {
        if !walk.index.contains_key(node) {
            walk.visit(node);
        }
    }
    walk.found
}

fn shown(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}

#[test]
fn the_files_of_each_crate_import_one_way() {
    let workspace = workspace();
    let mut report = String::new();
    for dir in CRATES {
        let krate = Crate::read(&workspace.join(dir));
        let edges = graph(&krate);
        for circle in circles(&edges) {
            report.push_str(&format!("circle of {} files:\n", circle.len()));
            for file in &circle {
                for (target, names) in &edges[file] {
                    if circle.contains(target) {
                        report.push_str(&format!(
                            "  {} -> {}: {}\n",
                            shown(&workspace, file),
                            shown(&workspace, target),
                            names.iter().cloned().collect::<Vec<_>>().join(", ")
                        ));
                    }
                }
            }
        }
    }
    assert!(report.is_empty(), "import circles:\n{report}");
}

fn product_files() -> Vec<PathBuf> {
    let workspace = workspace();
    let mut files = Vec::new();
    for dir in CRATES {
        rust_files(&workspace.join(dir).join("src"), &mut files);
    }
    files.retain(|path| !is_test_file(path));
    files
}

#[test]
fn no_product_file_is_longer_than_a_reader_can_hold() {
    let workspace = workspace();
    let long: Vec<String> = product_files()
        .iter()
        .filter_map(|path| {
            let lines = fs::read_to_string(path).expect("readable").lines().count();
            (lines > MAX_FILE_LINES).then(|| format!("{} ({lines} lines)", shown(&workspace, path)))
        })
        .collect();
    assert!(
        long.is_empty(),
        "files over {MAX_FILE_LINES} lines (split by what they hold; tests may move to a tests.rs): {long:#?}"
    );
}

/// Functions as rustfmt lays them out: from the `fn` line to the `}` at the same indentation.
fn long_functions(text: &str) -> Vec<(String, usize)> {
    let mut open: BTreeMap<usize, (usize, String)> = BTreeMap::new();
    let mut long = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let indent = line.len() - line.trim_start().len();
        let trimmed = line.trim_start();
        let signature = trimmed
            .trim_start_matches("pub(crate) ")
            .trim_start_matches("pub(super) ")
            .trim_start_matches("pub ")
            .trim_start_matches("const ")
            .trim_start_matches("async ")
            .trim_start_matches("unsafe ");
        if signature.starts_with("fn ") && !trimmed.ends_with(';') {
            open.insert(indent, (number, signature.to_owned()));
        } else if trimmed == "}"
            && let Some((start, name)) = open.remove(&indent)
        {
            let length = number - start + 1;
            if length > MAX_FN_LINES {
                long.push((name, length));
            }
        }
    }
    long
}

#[test]
fn no_function_is_longer_than_a_reader_can_hold() {
    let workspace = workspace();
    let mut long = Vec::new();
    for path in product_files() {
        let text = product_text(&fs::read_to_string(&path).expect("readable"));
        for (name, length) in long_functions(&text) {
            long.push(format!(
                "{}: {name} ({length} lines)",
                shown(&workspace, &path)
            ));
        }
    }
    assert!(
        long.is_empty(),
        "functions over {MAX_FN_LINES} lines outside tests (split into named steps): {long:#?}"
    );
}

#[test]
fn the_checks_see_what_they_look_for() {
    // A circle of two files is found, and a re-export is followed to the defining file.
    let dir = std::env::temp_dir().join(format!("hostdeck-house-{}", std::process::id()));
    let src = dir.join("src");
    fs::create_dir_all(src.join("b")).expect("temp dir");
    fs::write(
        src.join("lib.rs"),
        "mod a;\nmod b;\npub use b::inner::Thing;\n",
    )
    .expect("write");
    fs::write(src.join("a.rs"), "use crate::Thing;\npub struct A;\n").expect("write");
    fs::write(src.join("b/mod.rs"), "pub mod inner;\n").expect("write");
    fs::write(
        src.join("b/inner.rs"),
        "use crate::a::{\n    A,\n};\npub struct Thing(A);\n",
    )
    .expect("write");
    // `super` inside an inline module names the file's own module, not its parent.
    fs::write(
        src.join("c.rs"),
        "pub mod x {\n    pub struct X;\n}\npub mod y {\n    use super::x::X;\n}\n",
    )
    .expect("write");
    let krate = Crate::read(&dir);
    let edges = graph(&krate);
    assert!(edges[&src.join("c.rs")].is_empty(), "{edges:#?}");
    let found = circles(&edges);
    assert_eq!(
        found,
        vec![vec![src.join("a.rs"), src.join("b/inner.rs")]],
        "{edges:#?}"
    );
    fs::remove_dir_all(&dir).ok();

    // A long function is seen, a short one and a declaration are not.
    let body = "    let x = 1;\n".repeat(MAX_FN_LINES);
    let text = format!("fn long() {{\n{body}}}\nfn short() {{\n}}\ntrait T {{\n    fn d();\n}}\n");
    assert_eq!(
        long_functions(&text),
        vec![("fn long() {".to_owned(), MAX_FN_LINES + 2)]
    );
}

#[test]
fn no_door_reaches_past_the_services_to_the_store() {
    // `Core::store()` exists for tests (hostdeck-core's `testing` feature), and a `--workspace`
    // build turns that feature on for every crate, so the compiler alone would not stop a door
    // from calling it.
    let workspace = workspace();
    let mut found = Vec::new();
    for dir in ["web", "bot", "."] {
        let mut files = Vec::new();
        rust_files(&workspace.join(dir).join("src"), &mut files);
        for path in files {
            let text = fs::read_to_string(&path).expect("readable");
            for (number, line) in text.lines().enumerate() {
                let code = line.split("//").next().unwrap_or("");
                if code.contains(".store()") || code.contains("core.store") {
                    found.push(format!(
                        "{}:{}: {}",
                        shown(&workspace, &path),
                        number + 1,
                        line.trim()
                    ));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "doors reach data through the services: {found:#?}"
    );
}
