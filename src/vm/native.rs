//! What the VM knows of the library (src/library): a module is a name with
//! functions and constants, and the objects a module hands out (a database,
//! a transaction) are opaque `NativeObject`s. The driver gives the VM its
//! table of modules, so the VM imports nothing from the library.

use super::value::{Native, Value};
use super::Vm;

/// Rebuilds an object from the text it travelled as.
pub type Revive = fn(&str) -> Result<Value, Value>;

/// One library module, as `import NAME` finds it.
pub struct LibraryModule {
    pub name: &'static str,
    pub functions: &'static [Native],
    pub constants: &'static [(&'static str, f64)],
    /// Rebuilds, on another worker, an object this module handed out, from
    /// the text its `NativeObject::portable` gave.
    pub revive: Option<Revive>,
}

/// An object owned by a library module.
pub trait NativeObject {
    /// The name `type()` reports and errors use.
    fn type_name(&self) -> &'static str;
    fn display(&self, out: &mut String);
    fn has_method(&self, name: &str) -> bool;
    fn call_method(&self, vm: &mut Vm, name: &str, args: &[Value]) -> Result<Value, Value>;
    /// How a copy travels to another actor: the owning module's name and the
    /// text its `revive` takes; an error if it cannot travel.
    fn portable(&self) -> Result<(&'static str, String), Value>;
    /// Identity for `==`: two objects are equal when they share this address.
    fn identity(&self) -> usize;
}

/// A module object for `import NAME`.
pub(crate) fn build_module(m: &LibraryModule) -> Value {
    use super::value::{FxBuild, ModuleObj};
    use std::rc::Rc;
    let mut members: indexmap::IndexMap<Rc<str>, Value, FxBuild> = Default::default();
    for (n, v) in m.constants {
        members.insert(Rc::from(*n), Value::Float(*v));
    }
    for f in m.functions {
        members.insert(Rc::from(f.name), Value::Native(f));
    }
    Value::Module(Rc::new(ModuleObj { name: Rc::from(m.name), members: std::cell::RefCell::new(members), index: None }))
}

impl Vm {
    /// The library module called `name`, built once per VM.
    pub(crate) fn native_module(&mut self, name: &str) -> Result<Value, Value> {
        if let Some(v) = self.native_modules.get(name) {
            return Ok(v.clone());
        }
        let Some(m) = self.library.iter().find(|m| m.name == name) else {
            return Err(Value::error("NameError", format!("no library module `{name}`")));
        };
        let v = build_module(m);
        self.native_modules.insert(name.to_string(), v.clone());
        Ok(v)
    }

    /// An object another worker sent, rebuilt by the module that owns it.
    pub(crate) fn revive_object(&self, module: &str, data: &str) -> Result<Value, Value> {
        match self.library.iter().find(|m| m.name == module).and_then(|m| m.revive) {
            Some(revive) => revive(data),
            None => Err(Value::error("ValueError", format!("no library module `{module}` to receive its object"))),
        }
    }
}
