//! The linker: names → items, resolving a module's imports in order and instantiating it.

use crate::Extern;
use crate::instance::{self, Instance, InstanceImage};
use crate::module::Module;
use crate::store::Store;
use crate::values::InstantiateError;
use faasm_jit::Import;
use std::collections::HashMap;

/// Items by `(module, name)`, for resolving imports.
#[derive(Debug, Default, Clone)]
pub struct Linker {
    items: HashMap<(String, String), Extern>,
}

impl Linker {
    /// An empty linker.
    pub fn new() -> Linker {
        Linker::default()
    }

    /// Defines `module::name` as `item`, replacing any previous definition.
    pub fn define(&mut self, module: &str, name: &str, item: Extern) -> &mut Self {
        self.items
            .insert((module.to_string(), name.to_string()), item);
        self
    }

    /// Defines every export of `instance` under `module`.
    pub fn define_instance(
        &mut self,
        store: &Store,
        module: &str,
        instance: Instance,
    ) -> &mut Self {
        for (name, item) in instance.exports(store) {
            self.define(module, &name, item);
        }
        self
    }

    /// The item defined as `module::name`.
    pub fn get(&self, module: &str, name: &str) -> Option<Extern> {
        self.items
            .get(&(module.to_string(), name.to_string()))
            .copied()
    }

    /// The imports of `module` that this linker defines nothing for, in declaration order: all
    /// of them at once, for an error message that lists every one.
    pub fn unresolved_imports<'m>(&self, module: &'m Module) -> Vec<&'m Import> {
        module
            .info()
            .imports
            .iter()
            .filter(|import| self.get(&import.module, &import.name).is_none())
            .collect()
    }

    /// Resolves `module`'s imports, checks their types, instantiates it in `store` and runs
    /// its start function.
    pub fn instantiate(
        &self,
        store: &mut Store,
        module: &Module,
    ) -> Result<Instance, InstantiateError> {
        let resolved = self.resolve(store, module)?;
        instance::instantiate(store, module, &resolved)
    }

    /// Resolves `module`'s imports and instantiates it in the state `image` captured (see
    /// [`Instance::capture`]): memories are mapped copy-on-write from the image, globals and
    /// tables copied in; data segments and the start function do not run.
    pub fn instantiate_from_image(
        &self,
        store: &mut Store,
        module: &Module,
        image: &InstanceImage,
    ) -> Result<Instance, InstantiateError> {
        let resolved = self.resolve(store, module)?;
        instance::instantiate_from_image(store, module, &resolved, image)
    }

    /// The linker's item for each of `module`'s imports, checked against the import's type.
    fn resolve(&self, store: &Store, module: &Module) -> Result<Vec<Extern>, InstantiateError> {
        if !store.engine().same(module.engine()) {
            return Err(InstantiateError::Resource(
                "the module was compiled by another engine".to_string(),
            ));
        }
        let mut resolved = Vec::with_capacity(module.info().imports.len());
        for import in &module.info().imports {
            let item = self.get(&import.module, &import.name).ok_or_else(|| {
                InstantiateError::UnknownImport {
                    module: import.module.clone(),
                    name: import.name.clone(),
                }
            })?;
            instance::check_import(store.inner(), module, &import.kind, item).map_err(
                |reason| InstantiateError::IncompatibleImport {
                    module: import.module.clone(),
                    name: import.name.clone(),
                    reason,
                },
            )?;
            resolved.push(item);
        }
        Ok(resolved)
    }
}
