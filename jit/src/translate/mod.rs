//! The translator: what each Wasm operator means, in Cranelift IR. It keeps the operand stack
//! and the control stack; everything about the VM's layout it asks of [`env::FuncEnvironment`].

pub(crate) mod env;
mod numeric;
mod simd;

use crate::builtins::Builtin;
use crate::compile::MemoryStrategy;
use crate::error::CompileError;
use crate::module::ModuleInfo;
use crate::trap::TrapCode;
use crate::types::{FuncType, ValType};
use crate::vmctx::VMOffsets;
use cranelift_codegen::entity::packed_option::ReservedValue;
use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{self, Block, BlockArg, InstBuilder, MemFlagsData, Value, types};
use cranelift_codegen::isa::TargetFrontendConfig;
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext, Variable};
use env::{CallKind, FuncEnvironment, POINTER, clif_type};
use wasmparser::{BlockType, FunctionBody, MemArg, Operator};

/// One entry of the control stack.
#[derive(Debug)]
struct ControlFrame {
    kind: FrameKind,
    /// Where `end` continues (and where `br` goes, except for loops); its parameters are the results.
    destination: Block,
    num_params: usize,
    num_results: usize,
    /// Operand stack height below this frame's parameters.
    height: usize,
    /// Whether `destination` is reached by a branch or by falling through.
    destination_reached: bool,
}

#[derive(Debug)]
enum FrameKind {
    Block,
    Loop {
        header: Block,
    },
    /// `else_block` takes the `if`'s parameters; `has_else` tells whether `else` was seen.
    If {
        else_block: Block,
        has_else: bool,
    },
    /// A frame opened in unreachable code: no blocks, only nesting.
    Unreachable,
}

impl ControlFrame {
    /// The block a branch to this frame goes to, and how many values it carries.
    fn branch_target(&self) -> (Block, usize) {
        match self.kind {
            FrameKind::Loop { header } => (header, self.num_params),
            _ => (self.destination, self.num_results),
        }
    }
}

/// Translates function bodies, reusing its buffers from one function to the next.
pub(crate) struct FuncTranslator {
    stack: Vec<Value>,
    control: Vec<ControlFrame>,
    locals: Vec<(Variable, ValType)>,
    reachable: bool,
}

/// The static facts a function is translated with.
pub(crate) struct TranslationContext<'m> {
    pub module: &'m ModuleInfo,
    pub offsets: &'m VMOffsets,
    pub strategy: MemoryStrategy,
    pub epoch_interruption: bool,
    pub spectre_guard: bool,
    pub frontend_config: TargetFrontendConfig,
}

type Result<T> = std::result::Result<T, CompileError>;

impl FuncTranslator {
    pub(crate) fn new() -> Self {
        FuncTranslator {
            stack: Vec::new(),
            control: Vec::new(),
            locals: Vec::new(),
            reachable: true,
        }
    }

    /// Translates `body` of a function of type `ty` into `func`, whose signature is already set.
    pub(crate) fn translate(
        &mut self,
        cx: &TranslationContext<'_>,
        ty: &FuncType,
        body: &FunctionBody<'_>,
        func: &mut ir::Function,
        fctx: &mut FunctionBuilderContext,
    ) -> Result<()> {
        self.stack.clear();
        self.control.clear();
        self.locals.clear();
        self.reachable = true;
        env::declare_alias_regions(func);
        env::install_stack_limit(func);
        let mut b = FunctionBuilder::new(func, fctx);
        let entry = b.create_block();
        b.append_block_params_for_function_params(entry);
        b.switch_to_block(entry);
        b.seal_block(entry);
        let vmctx = b.block_params(entry)[0];
        let mut env = FuncEnvironment::new(
            cx.module,
            cx.offsets,
            cx.strategy,
            cx.epoch_interruption,
            cx.spectre_guard,
            vmctx,
        );
        self.declare_locals(&mut b, ty, body)?;
        env.epoch_check(&mut b);

        let exit = b.create_block();
        for result in &ty.results {
            b.append_block_param(exit, clif_type(*result));
        }
        self.control.push(ControlFrame {
            kind: FrameKind::Block,
            destination: exit,
            num_params: 0,
            num_results: ty.results.len(),
            height: 0,
            destination_reached: false,
        });

        let mut reader = body.get_operators_reader()?;
        while !reader.eof() {
            let (op, offset) = reader.read_with_offset()?;
            b.set_srcloc(ir::SourceLoc::new(offset as u32));
            self.translate_operator(&mut b, &mut env, op, offset)?;
        }
        // The final `end` has switched to `exit`, whose parameters are now on the stack.
        if self.reachable {
            let results = std::mem::take(&mut self.stack);
            b.ins().return_(&results);
        }
        b.seal_all_blocks();
        b.finalize(cx.frontend_config);
        Ok(())
    }

    fn declare_locals(
        &mut self,
        b: &mut FunctionBuilder,
        ty: &FuncType,
        body: &FunctionBody<'_>,
    ) -> Result<()> {
        let entry = b.current_block().expect("entry block");
        for (i, param) in ty.params.iter().enumerate() {
            let var = b.declare_var(clif_type(*param));
            let value = b.block_params(entry)[i + 2];
            b.def_var(var, value);
            self.locals.push((var, *param));
        }
        let mut reader = body.get_locals_reader()?;
        for _ in 0..reader.get_count() {
            let offset = reader.original_position();
            let (count, ty) = reader.read()?;
            let ty = ValType::from_wasmparser(ty, offset)?;
            for _ in 0..count {
                let var = b.declare_var(clif_type(ty));
                let zero = zero_value(b, ty);
                b.def_var(var, zero);
                self.locals.push((var, ty));
            }
        }
        Ok(())
    }

    fn pop(&mut self) -> Value {
        self.stack
            .pop()
            .expect("validated: operand stack underflow")
    }

    fn pop2(&mut self) -> (Value, Value) {
        let b = self.pop();
        let a = self.pop();
        (a, b)
    }

    fn pop3(&mut self) -> (Value, Value, Value) {
        let c = self.pop();
        let (a, b) = self.pop2();
        (a, b, c)
    }

    fn peekn(&self, n: usize) -> &[Value] {
        &self.stack[self.stack.len() - n..]
    }

    fn popn(&mut self, n: usize) -> Vec<Value> {
        self.stack.split_off(self.stack.len() - n)
    }

    fn push_results(&mut self, b: &FunctionBuilder, inst: ir::Inst) {
        self.stack.extend_from_slice(b.inst_results(inst));
    }

    fn block_arity(
        module: &ModuleInfo,
        ty: BlockType,
        offset: u64,
    ) -> Result<(Vec<ValType>, Vec<ValType>)> {
        Ok(match ty {
            BlockType::Empty => (vec![], vec![]),
            BlockType::Type(t) => (vec![], vec![ValType::from_wasmparser(t, offset)?]),
            BlockType::FuncType(index) => {
                let ft = &module.types[index as usize];
                (ft.params.clone(), ft.results.clone())
            }
        })
    }

    fn translate_operator(
        &mut self,
        b: &mut FunctionBuilder,
        env: &mut FuncEnvironment<'_>,
        op: Operator<'_>,
        offset: u64,
    ) -> Result<()> {
        if !self.reachable {
            self.translate_unreachable_operator(b, op);
            return Ok(());
        }
        if self.translate_control(b, env, &op, offset)? {
            return Ok(());
        }
        if self.translate_variable_or_memory(b, env, &op) {
            return Ok(());
        }
        if self.translate_table_or_ref(b, env, &op)? {
            return Ok(());
        }
        if numeric::translate(self, b, &op)? {
            return Ok(());
        }
        if simd::translate(self, b, env, &op)? {
            return Ok(());
        }
        Err(CompileError::unsupported(
            offset,
            format!("operator {op:?}"),
        ))
    }

    /// In unreachable code only the nesting of control operators matters.
    fn translate_unreachable_operator(&mut self, b: &mut FunctionBuilder, op: Operator<'_>) {
        match op {
            Operator::Block { .. } | Operator::Loop { .. } | Operator::If { .. } => {
                self.control.push(ControlFrame {
                    kind: FrameKind::Unreachable,
                    destination: Block::reserved_value(),
                    num_params: 0,
                    num_results: 0,
                    height: self.stack.len(),
                    destination_reached: false,
                });
            }
            Operator::Else => {
                let frame = self.control.last_mut().expect("validated: else inside if");
                if let FrameKind::If {
                    else_block,
                    has_else,
                } = &mut frame.kind
                {
                    *has_else = true;
                    let else_block = *else_block;
                    let height = frame.height;
                    // The then-branch ended unreachable; the else-branch is reachable if the if was.
                    self.stack.truncate(height);
                    b.switch_to_block(else_block);
                    self.stack.extend_from_slice(b.block_params(else_block));
                    self.reachable = true;
                }
            }
            Operator::End => self.end_frame(b),
            _ => {}
        }
    }

    /// Control operators. Returns whether `op` was one.
    fn translate_control(
        &mut self,
        b: &mut FunctionBuilder,
        env: &mut FuncEnvironment<'_>,
        op: &Operator<'_>,
        offset: u64,
    ) -> Result<bool> {
        match *op {
            Operator::Nop => {}
            Operator::Unreachable => {
                b.ins().trap(TrapCode::UnreachableCodeReached.to_clif());
                self.reachable = false;
            }
            Operator::Block { blockty } => {
                let (params, results) = Self::block_arity(env.module, blockty, offset)?;
                let destination = new_block_with(b, &results);
                self.control.push(ControlFrame {
                    kind: FrameKind::Block,
                    destination,
                    num_params: params.len(),
                    num_results: results.len(),
                    height: self.stack.len() - params.len(),
                    destination_reached: false,
                });
            }
            Operator::Loop { blockty } => {
                let (params, results) = Self::block_arity(env.module, blockty, offset)?;
                let header = new_block_with(b, &params);
                let destination = new_block_with(b, &results);
                let args = self.popn(params.len());
                jump(b, header, &args);
                b.switch_to_block(header);
                self.stack.extend_from_slice(b.block_params(header));
                env.epoch_check(b);
                self.control.push(ControlFrame {
                    kind: FrameKind::Loop { header },
                    destination,
                    num_params: params.len(),
                    num_results: results.len(),
                    height: self.stack.len() - params.len(),
                    destination_reached: false,
                });
            }
            Operator::If { blockty } => {
                let (params, results) = Self::block_arity(env.module, blockty, offset)?;
                let condition = self.pop();
                let then_block = new_block_with(b, &params);
                let else_block = new_block_with(b, &params);
                let destination = new_block_with(b, &results);
                let args = block_args(self.peekn(params.len()));
                b.ins()
                    .brif(condition, then_block, &args, else_block, &args);
                b.seal_block(then_block);
                b.seal_block(else_block);
                let height = self.stack.len() - params.len();
                self.stack.truncate(height);
                b.switch_to_block(then_block);
                self.stack.extend_from_slice(b.block_params(then_block));
                self.control.push(ControlFrame {
                    kind: FrameKind::If {
                        else_block,
                        has_else: false,
                    },
                    destination,
                    num_params: params.len(),
                    num_results: results.len(),
                    height,
                    destination_reached: false,
                });
            }
            Operator::Else => {
                let frame = self.control.last_mut().expect("validated: else inside if");
                let results = self.stack.split_off(self.stack.len() - frame.num_results);
                jump(b, frame.destination, &results);
                frame.destination_reached = true;
                if let FrameKind::If {
                    else_block,
                    has_else,
                } = &mut frame.kind
                {
                    *has_else = true;
                    let else_block = *else_block;
                    self.stack.truncate(frame.height);
                    b.switch_to_block(else_block);
                    self.stack.extend_from_slice(b.block_params(else_block));
                }
            }
            Operator::End => self.end_frame(b),
            Operator::Br { relative_depth } => {
                self.branch(b, relative_depth);
                self.reachable = false;
            }
            Operator::BrIf { relative_depth } => {
                let condition = self.pop();
                let (target, arity) = self.mark_branch(relative_depth);
                let args = block_args(self.peekn(arity));
                let next = b.create_block();
                b.ins().brif(condition, target, &args, next, &[]);
                b.seal_block(next);
                b.switch_to_block(next);
            }
            Operator::BrTable { ref targets } => {
                let index = self.pop();
                let default = targets.default();
                let depths = targets
                    .targets()
                    .collect::<std::result::Result<Vec<_>, _>>()?;
                self.branch_table(b, index, &depths, default);
                self.reachable = false;
            }
            Operator::Return => {
                let arity = self.control[0].num_results;
                let results = self.popn(arity);
                b.ins().return_(&results);
                self.reachable = false;
            }
            Operator::Call { function_index } => {
                self.call(env, b, CallKind::Normal, function_index);
            }
            Operator::ReturnCall { function_index } => {
                self.call(env, b, CallKind::Tail, function_index);
            }
            Operator::CallIndirect {
                type_index,
                table_index,
            } => {
                self.call_indirect(env, b, CallKind::Normal, (table_index, type_index));
            }
            Operator::ReturnCallIndirect {
                type_index,
                table_index,
            } => {
                self.call_indirect(env, b, CallKind::Tail, (table_index, type_index));
            }
            Operator::Drop => {
                self.pop();
            }
            Operator::Select | Operator::TypedSelect { .. } => {
                let (x, y, c) = self.pop3();
                let v = b.ins().select(c, x, y);
                self.stack.push(v);
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// `call` or `return_call` of function `index`, taking its arguments off the stack.
    fn call(
        &mut self,
        env: &mut FuncEnvironment<'_>,
        b: &mut FunctionBuilder,
        kind: CallKind,
        index: u32,
    ) {
        let arity = env.module.func_type(index).params.len();
        let args = self.popn(arity);
        let call = env.call(b, kind, index, &args);
        self.after_call(b, call);
    }

    /// `call_indirect` or `return_call_indirect` through `table` with type `type_index`.
    fn call_indirect(
        &mut self,
        env: &mut FuncEnvironment<'_>,
        b: &mut FunctionBuilder,
        kind: CallKind,
        (table, type_index): (u32, u32),
    ) {
        let index = self.pop();
        let arity = env.module.types[type_index as usize].params.len();
        let args = self.popn(arity);
        let call = env.call_indirect(b, kind, (table, type_index), index, &args);
        self.after_call(b, call);
    }

    /// Pushes a call's results; after a tail call (no instruction to return to) the rest of
    /// the block is unreachable.
    fn after_call(&mut self, b: &FunctionBuilder, call: Option<ir::Inst>) {
        match call {
            Some(call) => self.push_results(b, call),
            None => self.reachable = false,
        }
    }

    /// Marks the frame `depth` levels up as branched to; returns its target block and arity.
    fn mark_branch(&mut self, depth: u32) -> (Block, usize) {
        let index = self.control.len() - 1 - depth as usize;
        let frame = &mut self.control[index];
        if !matches!(frame.kind, FrameKind::Loop { .. }) {
            frame.destination_reached = true;
        }
        frame.branch_target()
    }

    fn branch(&mut self, b: &mut FunctionBuilder, depth: u32) {
        let (target, arity) = self.mark_branch(depth);
        let args = self.peekn(arity).to_vec();
        jump(b, target, &args);
    }

    fn branch_table(
        &mut self,
        b: &mut FunctionBuilder,
        index: Value,
        depths: &[u32],
        default: u32,
    ) {
        let (_, arity) = self.mark_branch(default);
        let args: Vec<BlockArg> = block_args(self.peekn(arity));
        let call_for = |this: &mut Self, b: &mut FunctionBuilder, depth: u32| {
            let (target, _) = this.mark_branch(depth);
            ir::BlockCall::new(target, args.iter().copied(), &mut b.func.dfg.value_lists)
        };
        let default_call = call_for(self, b, default);
        let calls: Vec<ir::BlockCall> = depths
            .iter()
            .map(|depth| call_for(self, b, *depth))
            .collect();
        let table = b.create_jump_table(ir::JumpTableData::new(default_call, &calls));
        b.ins().br_table(index, table);
    }

    fn end_frame(&mut self, b: &mut FunctionBuilder) {
        let frame = self.control.pop().expect("validated: end matches a frame");
        if let FrameKind::Unreachable = frame.kind {
            return;
        }
        if self.reachable {
            let results = self.stack.split_off(self.stack.len() - frame.num_results);
            jump(b, frame.destination, &results);
        }
        let mut reached = frame.destination_reached || self.reachable;
        if let FrameKind::If {
            else_block,
            has_else: false,
        } = frame.kind
        {
            // No else: the false edge passes the parameters straight through as results.
            b.switch_to_block(else_block);
            let params = b.block_params(else_block).to_vec();
            jump(b, frame.destination, &params);
            reached = true;
        }
        if let FrameKind::Loop { header } = frame.kind {
            b.seal_block(header);
        }
        self.stack.truncate(frame.height);
        b.switch_to_block(frame.destination);
        b.seal_block(frame.destination);
        self.stack
            .extend_from_slice(b.block_params(frame.destination));
        self.reachable = reached;
        if !reached {
            // Nothing reaches the continuation: mark it so Cranelift sees a terminated block.
            b.ins().trap(TrapCode::UnreachableCodeReached.to_clif());
        }
    }

    /// Locals, globals and memory operators. Returns whether `op` was one.
    fn translate_variable_or_memory(
        &mut self,
        b: &mut FunctionBuilder,
        env: &mut FuncEnvironment<'_>,
        op: &Operator<'_>,
    ) -> bool {
        use types::{F32, F64, I8, I16, I32, I64};
        match *op {
            Operator::LocalGet { local_index } => {
                let v = b.use_var(self.locals[local_index as usize].0);
                self.stack.push(v);
            }
            Operator::LocalSet { local_index } => {
                let v = self.pop();
                b.def_var(self.locals[local_index as usize].0, v);
            }
            Operator::LocalTee { local_index } => {
                let v = *self.stack.last().expect("validated");
                b.def_var(self.locals[local_index as usize].0, v);
            }
            Operator::GlobalGet { global_index } => {
                let v = env.global_get(b, global_index);
                self.stack.push(v);
            }
            Operator::GlobalSet { global_index } => {
                let v = self.pop();
                env.global_set(b, global_index, v);
            }
            Operator::I32Load { memarg } => self.load(b, env, memarg, I32, I32, Extend::None),
            Operator::I64Load { memarg } => self.load(b, env, memarg, I64, I64, Extend::None),
            Operator::F32Load { memarg } => self.load(b, env, memarg, F32, F32, Extend::None),
            Operator::F64Load { memarg } => self.load(b, env, memarg, F64, F64, Extend::None),
            Operator::I32Load8S { memarg } => self.load(b, env, memarg, I8, I32, Extend::Signed),
            Operator::I32Load8U { memarg } => self.load(b, env, memarg, I8, I32, Extend::Unsigned),
            Operator::I32Load16S { memarg } => self.load(b, env, memarg, I16, I32, Extend::Signed),
            Operator::I32Load16U { memarg } => {
                self.load(b, env, memarg, I16, I32, Extend::Unsigned)
            }
            Operator::I64Load8S { memarg } => self.load(b, env, memarg, I8, I64, Extend::Signed),
            Operator::I64Load8U { memarg } => self.load(b, env, memarg, I8, I64, Extend::Unsigned),
            Operator::I64Load16S { memarg } => self.load(b, env, memarg, I16, I64, Extend::Signed),
            Operator::I64Load16U { memarg } => {
                self.load(b, env, memarg, I16, I64, Extend::Unsigned)
            }
            Operator::I64Load32S { memarg } => self.load(b, env, memarg, I32, I64, Extend::Signed),
            Operator::I64Load32U { memarg } => {
                self.load(b, env, memarg, I32, I64, Extend::Unsigned)
            }
            Operator::I32Store { memarg }
            | Operator::F32Store { memarg }
            | Operator::I64Store32 { memarg } => self.store(b, env, memarg, 4),
            Operator::I64Store { memarg } | Operator::F64Store { memarg } => {
                self.store(b, env, memarg, 8)
            }
            Operator::I32Store8 { memarg } | Operator::I64Store8 { memarg } => {
                self.store(b, env, memarg, 1)
            }
            Operator::I32Store16 { memarg } | Operator::I64Store16 { memarg } => {
                self.store(b, env, memarg, 2)
            }
            Operator::MemorySize { mem } => {
                let length = env.memory_length(b, mem);
                let pages = b.ins().ushr_imm_u(length, 16);
                let pages = b.ins().ireduce(I32, pages);
                self.stack.push(pages);
            }
            Operator::MemoryGrow { mem } => {
                let delta = self.pop();
                let mem = b.ins().iconst(I32, i64::from(mem));
                let old = env
                    .call_builtin(b, Builtin::MemoryGrow, &[mem, delta])
                    .expect("returns a size");
                self.stack.push(old);
            }
            Operator::MemoryFill { mem } => {
                let (dst, value, len) = self.pop3();
                let mem = b.ins().iconst(I32, i64::from(mem));
                env.call_builtin(b, Builtin::MemoryFill, &[mem, dst, value, len]);
            }
            Operator::MemoryCopy { dst_mem, src_mem } => {
                let (dst, src, len) = self.pop3();
                let dst_mem = b.ins().iconst(I32, i64::from(dst_mem));
                let src_mem = b.ins().iconst(I32, i64::from(src_mem));
                env.call_builtin(b, Builtin::MemoryCopy, &[dst_mem, dst, src_mem, src, len]);
            }
            Operator::MemoryInit { data_index, mem } => {
                let (dst, src, len) = self.pop3();
                let mem = b.ins().iconst(I32, i64::from(mem));
                let data = b.ins().iconst(I32, i64::from(data_index));
                env.call_builtin(b, Builtin::MemoryInit, &[mem, data, dst, src, len]);
            }
            Operator::DataDrop { data_index } => {
                let data = b.ins().iconst(I32, i64::from(data_index));
                env.call_builtin(b, Builtin::DataDrop, &[data]);
            }
            _ => return false,
        }
        true
    }

    fn load(
        &mut self,
        b: &mut FunctionBuilder,
        env: &mut FuncEnvironment<'_>,
        memarg: MemArg,
        mem_ty: ir::Type,
        result_ty: ir::Type,
        extend: Extend,
    ) {
        let index = self.pop();
        let (addr, offset) = env.heap_addr(
            b,
            memory_index(&memarg),
            index,
            memarg.offset,
            mem_ty.bytes(),
        );
        let flags = heap_flags();
        let value = match extend {
            Extend::None => b.ins().load(mem_ty, flags, addr, offset),
            Extend::Signed => match (mem_ty, result_ty) {
                (types::I8, types::I32) => b.ins().sload8(types::I32, flags, addr, offset),
                (types::I16, types::I32) => b.ins().sload16(types::I32, flags, addr, offset),
                (types::I8, _) => b.ins().sload8(types::I64, flags, addr, offset),
                (types::I16, _) => b.ins().sload16(types::I64, flags, addr, offset),
                _ => b.ins().sload32(flags, addr, offset),
            },
            Extend::Unsigned => match (mem_ty, result_ty) {
                (types::I8, types::I32) => b.ins().uload8(types::I32, flags, addr, offset),
                (types::I16, types::I32) => b.ins().uload16(types::I32, flags, addr, offset),
                (types::I8, _) => b.ins().uload8(types::I64, flags, addr, offset),
                (types::I16, _) => b.ins().uload16(types::I64, flags, addr, offset),
                _ => b.ins().uload32(flags, addr, offset),
            },
        };
        self.stack.push(value);
    }

    fn store(
        &mut self,
        b: &mut FunctionBuilder,
        env: &mut FuncEnvironment<'_>,
        memarg: MemArg,
        size: u32,
    ) {
        let (index, value) = self.pop2();
        let (addr, offset) = env.heap_addr(b, memory_index(&memarg), index, memarg.offset, size);
        let flags = heap_flags();
        let value_bytes = b.func.dfg.value_type(value).bytes();
        if value_bytes == size {
            b.ins().store(flags, value, addr, offset);
        } else {
            match size {
                1 => b.ins().istore8(flags, value, addr, offset),
                2 => b.ins().istore16(flags, value, addr, offset),
                _ => b.ins().istore32(flags, value, addr, offset),
            };
        }
    }

    /// Table and reference operators. Returns whether `op` was one.
    fn translate_table_or_ref(
        &mut self,
        b: &mut FunctionBuilder,
        env: &mut FuncEnvironment<'_>,
        op: &Operator<'_>,
    ) -> Result<bool> {
        use types::I32;
        match *op {
            Operator::RefNull { .. } => {
                let null = b.ins().iconst(POINTER, 0);
                self.stack.push(null);
            }
            Operator::RefIsNull => {
                let v = self.pop();
                let is_null = b.ins().icmp_imm_s(IntCC::Equal, v, 0);
                let is_null = b.ins().uextend(I32, is_null);
                self.stack.push(is_null);
            }
            Operator::RefFunc { function_index } => {
                let v = env.func_ref(b, function_index);
                self.stack.push(v);
            }
            Operator::TableGet { table } => {
                let index = self.pop();
                let addr = env.table_element_addr(b, table, index);
                let v = b.ins().load(POINTER, env::table_flags(), addr, 0);
                self.stack.push(v);
            }
            Operator::TableSet { table } => {
                let (index, value) = self.pop2();
                let addr = env.table_element_addr(b, table, index);
                b.ins().store(env::table_flags(), value, addr, 0);
            }
            Operator::TableSize { table } => {
                let size = env.table_size(b, table);
                let size = b.ins().ireduce(I32, size);
                self.stack.push(size);
            }
            Operator::TableGrow { table } => {
                let (init, delta) = self.pop2();
                let table = b.ins().iconst(I32, i64::from(table));
                let old = env
                    .call_builtin(b, Builtin::TableGrow, &[table, delta, init])
                    .expect("returns a size");
                self.stack.push(old);
            }
            Operator::TableFill { table } => {
                let (dst, value, len) = self.pop3();
                let table = b.ins().iconst(I32, i64::from(table));
                env.call_builtin(b, Builtin::TableFill, &[table, dst, value, len]);
            }
            Operator::TableCopy {
                dst_table,
                src_table,
            } => {
                let (dst, src, len) = self.pop3();
                let dst_table = b.ins().iconst(I32, i64::from(dst_table));
                let src_table = b.ins().iconst(I32, i64::from(src_table));
                env.call_builtin(
                    b,
                    Builtin::TableCopy,
                    &[dst_table, src_table, dst, src, len],
                );
            }
            Operator::TableInit { elem_index, table } => {
                let (dst, src, len) = self.pop3();
                let table = b.ins().iconst(I32, i64::from(table));
                let elem = b.ins().iconst(I32, i64::from(elem_index));
                env.call_builtin(b, Builtin::TableInit, &[table, elem, dst, src, len]);
            }
            Operator::ElemDrop { elem_index } => {
                let elem = b.ins().iconst(I32, i64::from(elem_index));
                env.call_builtin(b, Builtin::ElemDrop, &[elem]);
            }
            _ => return Ok(false),
        }
        Ok(true)
    }
}

#[derive(Clone, Copy)]
enum Extend {
    None,
    Signed,
    Unsigned,
}

/// The memory an access targets (always a linear memory in WebAssembly 2.0).
fn memory_index(memarg: &MemArg) -> u32 {
    match memarg.target {
        wasmparser::MemArgTarget::Memory(index) | wasmparser::MemArgTarget::Array(index) => index,
    }
}

/// Flags of a guest memory access: may trap (out of bounds), little-endian, not aligned, in the
/// `heap` alias region (see [`env::vm_flags`]).
fn heap_flags() -> MemFlagsData {
    MemFlagsData::new()
        .with_endianness(ir::Endianness::Little)
        .with_trap_code(Some(TrapCode::MemoryOutOfBounds.to_clif()))
        .with_alias_region(Some(ir::AliasRegion::from_u32(env::HEAP_REGION)))
}

fn new_block_with(b: &mut FunctionBuilder, tys: &[ValType]) -> Block {
    let block = b.create_block();
    for ty in tys {
        b.append_block_param(block, clif_type(*ty));
    }
    block
}

fn block_args(values: &[Value]) -> Vec<BlockArg> {
    values.iter().map(|v| BlockArg::Value(*v)).collect()
}

fn jump(b: &mut FunctionBuilder, target: Block, args: &[Value]) {
    b.ins().jump(target, &block_args(args));
}

/// The zero value of a type: the initial value of locals.
fn zero_value(b: &mut FunctionBuilder, ty: ValType) -> Value {
    match ty {
        ValType::I32 => b.ins().iconst(types::I32, 0),
        ValType::I64 | ValType::FuncRef | ValType::ExternRef => b.ins().iconst(types::I64, 0),
        ValType::F32 => b.ins().f32const(0.0),
        ValType::F64 => b.ins().f64const(0.0),
        ValType::V128 => {
            let zero = b.func.dfg.constants.insert(vec![0u8; 16].into());
            b.ins().vconst(types::I8X16, zero)
        }
    }
}
