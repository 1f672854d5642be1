//! A Terraform workspace as the rules see it: modules, their instances, resources,
//! variables, locals and provider constraints.
//!
//! Every root module (a folder with `.tf` files that no other folder calls as a
//! local module) is instantiated once; each local `module` call instantiates the
//! called folder again with the call's arguments as its variables, so a value can
//! flow from a call site into a module's resources and be traced back to it.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

use hcl_edit::Span;
use hcl_edit::expr::Expression;
use hcl_edit::structure::{Attribute, Block, Body, Structure};

use crate::source::{ParseError, ParsedFile, SourceSet, dir_of, join_dir};

/// A top-level block of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BlockRef {
    pub file: usize,
    pub index: usize,
}

/// One local `module` call.
#[derive(Debug, Clone)]
pub struct CallDef {
    pub name: String,
    pub block: BlockRef,
    /// Index of the called module in [`Workspace::modules`].
    pub target: usize,
}

/// A folder of `.tf` files.
#[derive(Debug, Default)]
pub struct ModuleDef {
    pub dir: String,
    pub files: Vec<usize>,
    pub resources: Vec<BlockRef>,
    pub variables: BTreeMap<String, BlockRef>,
    /// Local name → (file, top-level block index, attribute key).
    pub locals: BTreeMap<String, (usize, usize)>,
    pub calls: Vec<CallDef>,
    /// Provider local name → version constraint, from `required_providers`.
    pub provider_versions: BTreeMap<String, String>,
    /// How many `module` calls in the workspace point at this folder.
    pub callers: usize,
    /// `var.NAME` reference counts inside this folder.
    pub var_uses: BTreeMap<String, usize>,
}

/// One instance of a module: the root, or a module call.
#[derive(Debug, Clone)]
pub struct Instance {
    /// `""` for a root, `module.a` or `module.a.module.b` for calls.
    pub path: String,
    pub module: usize,
    /// The instance that made the call, and the call's index in its module.
    pub caller: Option<(usize, usize)>,
}

/// One resource block in one module instance.
#[derive(Debug, Clone)]
pub struct Resource {
    pub instance: usize,
    pub block: BlockRef,
    pub kind: String,
    pub name: String,
    /// `aws_s3_bucket.logs`, `module.web.aws_security_group.this`.
    pub address: String,
}

#[derive(Debug)]
pub struct Workspace {
    pub files: Vec<ParsedFile>,
    pub modules: Vec<ModuleDef>,
    pub instances: Vec<Instance>,
    pub resources: Vec<Resource>,
    pub errors: Vec<ParseError>,
    /// Local module sources that could not be followed, with the reason.
    pub warnings: Vec<String>,
}

const MAX_MODULE_DEPTH: usize = 16;

impl Workspace {
    pub fn load(sources: &SourceSet) -> Workspace {
        let mut files = Vec::with_capacity(sources.len());
        let mut errors = Vec::new();
        for (path, text) in sources.iter() {
            let (file, error) = ParsedFile::parse(path, text);
            files.push(file);
            errors.extend(error);
        }
        let mut by_dir: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (i, f) in files.iter().enumerate() {
            by_dir
                .entry(dir_of(&f.path).to_owned())
                .or_default()
                .push(i);
        }
        let mut modules: Vec<ModuleDef> = Vec::new();
        let mut dir_index: BTreeMap<String, usize> = BTreeMap::new();
        for (dir, ids) in &by_dir {
            dir_index.insert(dir.clone(), modules.len());
            modules.push(ModuleDef {
                dir: dir.clone(),
                files: ids.clone(),
                ..ModuleDef::default()
            });
        }
        let mut warnings = Vec::new();
        for module in &mut modules {
            index_module(module, &files, &dir_index, &mut warnings);
        }
        let targets: Vec<usize> = modules
            .iter()
            .flat_map(|m| m.calls.iter().map(|c| c.target))
            .collect();
        for t in &targets {
            if let Some(m) = modules.get_mut(*t) {
                m.callers += 1;
            }
        }
        let called: BTreeSet<usize> = targets.into_iter().collect();
        let mut ws = Workspace {
            files,
            modules,
            instances: Vec::new(),
            resources: Vec::new(),
            errors,
            warnings,
        };
        for root in 0..ws.modules.len() {
            if !called.contains(&root) {
                ws.instantiate(root, String::new(), None, 0);
            }
        }
        ws
    }

    fn instantiate(
        &mut self,
        module: usize,
        path: String,
        caller: Option<(usize, usize)>,
        depth: usize,
    ) {
        let id = self.instances.len();
        self.instances.push(Instance {
            path: path.clone(),
            module,
            caller,
        });
        let Some(def) = self.modules.get(module) else {
            return;
        };
        let resources = def.resources.clone();
        let calls = def.calls.clone();
        for block_ref in resources {
            let Some(block) = self.block(block_ref) else {
                continue;
            };
            let kind = label(block, 0).to_owned();
            let name = label(block, 1).to_owned();
            let address = if path.is_empty() {
                format!("{kind}.{name}")
            } else {
                format!("{path}.{kind}.{name}")
            };
            self.resources.push(Resource {
                instance: id,
                block: block_ref,
                kind,
                name,
                address,
            });
        }
        if depth >= MAX_MODULE_DEPTH {
            self.warnings.push(format!(
                "module nesting deeper than {MAX_MODULE_DEPTH} at {path}; not followed"
            ));
            return;
        }
        for (i, call) in calls.iter().enumerate() {
            let child = if path.is_empty() {
                format!("module.{}", call.name)
            } else {
                format!("{path}.module.{}", call.name)
            };
            self.instantiate(call.target, child, Some((id, i)), depth + 1);
        }
    }

    pub fn file(&self, id: usize) -> Option<&ParsedFile> {
        self.files.get(id)
    }

    pub fn block(&self, r: BlockRef) -> Option<&Block> {
        self.files
            .get(r.file)?
            .body
            .as_ref()?
            .get(r.index)?
            .as_block()
    }

    pub fn instance_module(&self, instance: usize) -> Option<&ModuleDef> {
        self.modules.get(self.instances.get(instance)?.module)
    }

    /// The resource with this address, if any.
    pub fn resource(&self, address: &str) -> Option<&Resource> {
        self.resources.iter().find(|r| r.address == address)
    }

    /// The root module instance's required version constraint for a provider
    /// (`aws`), looking up the instance chain to the root.
    pub fn provider_constraint(&self, instance: usize, provider: &str) -> Option<String> {
        let mut current = Some(instance);
        while let Some(i) = current {
            let inst = self.instances.get(i)?;
            if let Some(v) = self
                .modules
                .get(inst.module)
                .and_then(|m| m.provider_versions.get(provider))
            {
                return Some(v.clone());
            }
            current = inst.caller.map(|(c, _)| c);
        }
        None
    }
}

pub fn label(block: &Block, i: usize) -> &str {
    block.labels.get(i).map_or("", |l| l.as_str())
}

fn index_module(
    module: &mut ModuleDef,
    files: &[ParsedFile],
    dir_index: &BTreeMap<String, usize>,
    warnings: &mut Vec<String>,
) {
    for &fid in &module.files {
        let Some(file) = files.get(fid) else { continue };
        let Some(body) = &file.body else { continue };
        count_var_uses(body, &mut module.var_uses);
        for (index, structure) in body.iter().enumerate() {
            let Some(block) = structure.as_block() else {
                continue;
            };
            let r = BlockRef { file: fid, index };
            match block.ident.as_str() {
                "resource" if block.labels.len() == 2 => module.resources.push(r),
                "variable" if block.labels.len() == 1 => {
                    module.variables.insert(label(block, 0).to_owned(), r);
                }
                "locals" => {
                    for attr in block.body.attributes() {
                        module
                            .locals
                            .insert(attr.key.as_str().to_owned(), (fid, index));
                    }
                }
                "module" if block.labels.len() == 1 => {
                    let source = block
                        .body
                        .get_attribute("source")
                        .and_then(|a| a.value.as_str())
                        .unwrap_or("");
                    if !(source.starts_with("./") || source.starts_with("../")) {
                        continue;
                    }
                    let Some(dir) = join_dir(&module.dir, source) else {
                        warnings.push(format!(
                            "{}: module {:?} source {source:?} leaves the workspace; not followed",
                            file.path,
                            label(block, 0)
                        ));
                        continue;
                    };
                    match dir_index.get(&dir) {
                        Some(&target) => module.calls.push(CallDef {
                            name: label(block, 0).to_owned(),
                            block: r,
                            target,
                        }),
                        None => warnings.push(format!(
                            "{}: module {:?} source {source:?} has no .tf files in the workspace",
                            file.path,
                            label(block, 0)
                        )),
                    }
                }
                "terraform" => {
                    for rp in block.body.get_blocks("required_providers") {
                        for attr in rp.body.attributes() {
                            let version = match &attr.value {
                                Expression::Object(obj) => obj.iter().find_map(|(k, v)| {
                                    let key = k.as_ident().map(|i| i.as_str().to_owned()).or_else(
                                        || k.as_expr().and_then(|e| e.as_str()).map(str::to_owned),
                                    )?;
                                    (key == "version")
                                        .then(|| v.expr().as_str().map(str::to_owned))?
                                }),
                                Expression::String(s) => Some(s.value().clone()),
                                _ => None,
                            };
                            if let Some(v) = version {
                                module
                                    .provider_versions
                                    .insert(attr.key.as_str().to_owned(), v);
                            }
                        }
                    }
                }
                _ => {}
            }
        }
    }
}

fn count_var_uses(body: &Body, uses: &mut BTreeMap<String, usize>) {
    use hcl_edit::visit::{Visit, visit_traversal};
    struct V<'a>(&'a mut BTreeMap<String, usize>);
    impl Visit for V<'_> {
        fn visit_traversal(&mut self, node: &hcl_edit::expr::Traversal) {
            if let Expression::Variable(root) = &node.expr
                && root.as_str() == "var"
                && let Some(first) = node.operators.first()
                && let hcl_edit::expr::TraversalOperator::GetAttr(name) = first.value()
            {
                *self.0.entry(name.as_str().to_owned()).or_default() += 1;
            }
            visit_traversal(self, node);
        }
    }
    V(uses).visit_body(body);
}

/// The attribute with this key in a body.
pub fn attr<'a>(body: &'a Body, key: &str) -> Option<&'a Attribute> {
    body.get_attribute(key)
}

/// Span of a structure, or an empty range.
pub fn span_of(item: &impl Span) -> Range<usize> {
    item.span().unwrap_or(0..0)
}

/// Top-level structures of a body that are blocks with this identifier.
pub fn blocks<'a>(body: &'a Body, ident: &'a str) -> impl Iterator<Item = &'a Block> + 'a {
    body.iter().filter_map(move |s| match s {
        Structure::Block(b) if b.ident.as_str() == ident => Some(b),
        _ => None,
    })
}
