//! CUDA source for one table's quotient, generated from the AIR's symbolic
//! constraints: the same base and LogUp extension constraints p3-batch-stark's
//! `quotient_values` folds (`p3_batch_stark::symbolic::get_symbolic_constraints`
//! with the table's packed lookups), so a table is never written twice.
//!
//! The constraint trees are `Arc`-shared DAGs, and separately built trees
//! repeat subexpressions (every `local.x` is a fresh leaf), so they are
//! hash-consed into one DAG: a node is identified by its operation and its
//! children's ids (commutative operands sorted), and equal nodes are emitted
//! once. A node whose operands are all base-field is a base-field operation;
//! extension operations with one base operand use the cheaper mixed forms.
//! Field arithmetic is exact, so any evaluation order of the DAG gives p3's
//! values bit for bit. The kernel layout is described in `README.md`.

use std::collections::HashMap;
use std::fmt::Write;

use cloak_prover::config::{Challenge, Val};
use p3_air::symbolic::{
    AirLayout, BaseEntry, BaseLeaf, ConstraintLayout, ExtEntry, ExtLeaf, SymbolicExpr,
    SymbolicExpression, SymbolicExpressionExt,
};
use p3_air::Air;
use p3_field::BasedVectorSpace;
use p3_lookup::{InteractionSymbolicBuilder, LogUpGadget, Lookup};
use p3_matrix::Matrix;

use crate::context::{GpuError, Result};
use crate::field::as_raw;

/// Helpers the generated source uses (mixed base/extension ops, selectors).
pub const QUOTIENT_CUH: &str = include_str!("../cuda/quotient.cuh");

/// Extension-field LogUp columns of a table with `lookups` lookups: one a
/// lookup and the running sum, or none.
pub fn permutation_width(lookups: usize) -> usize {
    if lookups == 0 {
        0
    } else {
        lookups + 1
    }
}

/// One table's constraints exactly as p3-batch-stark's prover sees them.
pub struct TableConstraints {
    pub base: Vec<SymbolicExpression<Val>>,
    pub ext: Vec<SymbolicExpressionExt<Val, Challenge>>,
    /// Where each base / extension constraint sits in the global order
    /// (constraint `g` is weighted by `alpha^(total - 1 - g)`).
    pub layout: ConstraintLayout,
    pub main_width: usize,
    pub preprocessed_width: usize,
    /// Extension-field permutation (LogUp) columns: lookups + 1, or 0.
    pub permutation_width: usize,
    pub num_public_values: usize,
    pub num_challenges: usize,
    pub num_permutation_values: usize,
}

impl TableConstraints {
    /// The constraints of `air` with its (packed) `lookups`, built as
    /// `quotient_values` builds them: the same `AirLayout`, the same calls.
    pub fn of<A>(air: &A, lookups: &[Lookup<Val>]) -> Self
    where
        A: Air<InteractionSymbolicBuilder<Val, Challenge>>,
    {
        let preprocessed_width = air.preprocessed_trace().map_or(0, |t| t.width());
        let layout = AirLayout {
            preprocessed_width,
            main_width: air.width(),
            num_public_values: air.num_public_values(),
            num_periodic_columns: air.num_periodic_columns(),
            ..Default::default()
        };
        let gadget = LogUpGadget::new();
        let (base, ext) =
            p3_batch_stark::symbolic::get_symbolic_constraints(air, layout, lookups, &gadget);
        let constraint_layout =
            p3_batch_stark::symbolic::get_constraint_layout::<Val, Challenge, _, _>(
                air, layout, lookups, &gadget,
            );
        let n = lookups.len();
        TableConstraints {
            base,
            ext,
            layout: constraint_layout,
            main_width: layout.main_width,
            preprocessed_width,
            permutation_width: permutation_width(n),
            num_public_values: layout.num_public_values,
            num_challenges: n * p3_lookup::LookupProtocol::num_challenges(&gadget),
            num_permutation_values: usize::from(n > 0),
        }
    }

    /// Number of constraints (base and extension).
    pub fn total(&self) -> usize {
        self.layout.total_constraints()
    }
}

/// One DAG node. Ids index `Dag::nodes`; children always have smaller ids.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Node {
    // Base-field values.
    Const(u32),
    /// Main column: (next row, column).
    Main(bool, u32),
    Prep(bool, u32),
    Public(u32),
    IsFirst,
    IsLast,
    IsTransition,
    Add(u32, u32),
    Sub(u32, u32),
    Neg(u32),
    Mul(u32, u32),
    // Extension-field values.
    EConst([u32; 4]),
    /// Permutation (LogUp) column: (next row, extension column).
    Perm(bool, u32),
    Challenge(u32),
    PermValue(u32),
    EAdd(u32, u32),
    ESub(u32, u32),
    ENeg(u32),
    EMul(u32, u32),
    /// Extension op base: (ext, base).
    EAddB(u32, u32),
    ESubB(u32, u32),
    /// base − ext: (base, ext).
    BSubE(u32, u32),
    EMulB(u32, u32),
}

impl Node {
    fn is_ext(self) -> bool {
        matches!(
            self,
            Node::EConst(_)
                | Node::Perm(..)
                | Node::Challenge(_)
                | Node::PermValue(_)
                | Node::EAdd(..)
                | Node::ESub(..)
                | Node::ENeg(_)
                | Node::EMul(..)
                | Node::EAddB(..)
                | Node::ESubB(..)
                | Node::BSubE(..)
                | Node::EMulB(..)
        )
    }
}

/// Arithmetic node kinds of the symbolic trees.
#[derive(Clone, Copy)]
enum Arith {
    Add,
    Sub,
    Mul,
}

/// The hash-consed DAG of one table's constraints.
#[derive(Default)]
struct Dag {
    nodes: Vec<Node>,
    ids: HashMap<Node, u32>,
    /// Symbolic node address → DAG id (the trees are alive while lowering).
    seen: HashMap<usize, u32>,
    periodic: bool,
}

impl Dag {
    fn intern(&mut self, n: Node) -> u32 {
        if let Some(&id) = self.ids.get(&n) {
            return id;
        }
        let id = self.nodes.len() as u32;
        self.nodes.push(n);
        self.ids.insert(n, id);
        id
    }

    fn ext(&self, id: u32) -> bool {
        self.nodes[id as usize].is_ext()
    }

    /// `a op b`, in the base field when both are base, mixed when one is.
    fn arith(&mut self, op: Arith, a: u32, b: u32) -> u32 {
        let sorted = (a.min(b), a.max(b));
        let n = match (op, self.ext(a), self.ext(b)) {
            (Arith::Add, false, false) => Node::Add(sorted.0, sorted.1),
            (Arith::Mul, false, false) => Node::Mul(sorted.0, sorted.1),
            (Arith::Sub, false, false) => Node::Sub(a, b),
            (Arith::Add, true, true) => Node::EAdd(sorted.0, sorted.1),
            (Arith::Mul, true, true) => Node::EMul(sorted.0, sorted.1),
            (Arith::Sub, true, true) => Node::ESub(a, b),
            (Arith::Add, true, false) => Node::EAddB(a, b),
            (Arith::Add, false, true) => Node::EAddB(b, a),
            (Arith::Mul, true, false) => Node::EMulB(a, b),
            (Arith::Mul, false, true) => Node::EMulB(b, a),
            (Arith::Sub, true, false) => Node::ESubB(a, b),
            (Arith::Sub, false, true) => Node::BSubE(a, b),
        };
        self.intern(n)
    }

    fn neg(&mut self, a: u32) -> u32 {
        let n = if self.ext(a) {
            Node::ENeg(a)
        } else {
            Node::Neg(a)
        };
        self.intern(n)
    }

    /// Lowers a symbolic tree without recursion (trees can be thousands
    /// deep), visiting each shared node once.
    fn lower<A: Leaf>(&mut self, root: &SymbolicExpr<A>) -> u32 {
        let key = |e: &SymbolicExpr<A>| e as *const SymbolicExpr<A> as usize;
        let mut stack: Vec<(&SymbolicExpr<A>, bool)> = vec![(root, false)];
        while let Some((e, expanded)) = stack.pop() {
            if self.seen.contains_key(&key(e)) {
                continue;
            }
            let children: Vec<&SymbolicExpr<A>> = match e {
                SymbolicExpr::Leaf(_) => vec![],
                SymbolicExpr::Add { x, y, .. }
                | SymbolicExpr::Sub { x, y, .. }
                | SymbolicExpr::Mul { x, y, .. } => vec![x, y],
                SymbolicExpr::Neg { x, .. } => vec![x],
            };
            if !expanded {
                stack.push((e, true));
                stack.extend(children.into_iter().map(|c| (c, false)));
                continue;
            }
            let id = |c: &SymbolicExpr<A>| self.seen[&key(c)];
            let node = match e {
                SymbolicExpr::Leaf(l) => l.lower(self),
                SymbolicExpr::Add { x, y, .. } => {
                    let (a, b) = (id(x), id(y));
                    self.arith(Arith::Add, a, b)
                }
                SymbolicExpr::Sub { x, y, .. } => {
                    let (a, b) = (id(x), id(y));
                    self.arith(Arith::Sub, a, b)
                }
                SymbolicExpr::Mul { x, y, .. } => {
                    let (a, b) = (id(x), id(y));
                    self.arith(Arith::Mul, a, b)
                }
                SymbolicExpr::Neg { x, .. } => {
                    let a = id(x);
                    self.neg(a)
                }
            };
            self.seen.insert(key(e), node);
        }
        self.seen[&key(root)]
    }
}

/// A symbolic leaf type the DAG can lower.
trait Leaf: Sized {
    fn lower(&self, dag: &mut Dag) -> u32;
}

fn raw(v: Val) -> u32 {
    as_raw(&[v])[0]
}

impl Leaf for BaseLeaf<Val> {
    fn lower(&self, dag: &mut Dag) -> u32 {
        let n = match self {
            BaseLeaf::Constant(c) => Node::Const(raw(*c)),
            BaseLeaf::IsFirstRow => Node::IsFirst,
            BaseLeaf::IsLastRow => Node::IsLast,
            BaseLeaf::IsTransition => Node::IsTransition,
            BaseLeaf::Variable(v) => {
                let i = v.index as u32;
                match v.entry {
                    BaseEntry::Main { offset } => Node::Main(offset == 1, i),
                    BaseEntry::Preprocessed { offset } => Node::Prep(offset == 1, i),
                    BaseEntry::Public => Node::Public(i),
                    BaseEntry::Periodic => {
                        // No Cloak table declares periodic columns; refuse
                        // rather than evaluate something else.
                        dag.periodic = true;
                        Node::Const(0)
                    }
                }
            }
        };
        dag.intern(n)
    }
}

impl Leaf for ExtLeaf<Val, Challenge> {
    fn lower(&self, dag: &mut Dag) -> u32 {
        match self {
            ExtLeaf::Base(b) => dag.lower(b),
            ExtLeaf::ExtConstant(c) => {
                let cs = c.as_basis_coefficients_slice();
                if cs[1..].iter().all(|x| *x == Val::default()) {
                    dag.intern(Node::Const(raw(cs[0])))
                } else {
                    dag.intern(Node::EConst([
                        raw(cs[0]),
                        raw(cs[1]),
                        raw(cs[2]),
                        raw(cs[3]),
                    ]))
                }
            }
            ExtLeaf::ExtVariable(v) => {
                let i = v.index as u32;
                let n = match v.entry {
                    ExtEntry::Permutation { offset } => Node::Perm(offset == 1, i),
                    ExtEntry::Challenge => Node::Challenge(i),
                    ExtEntry::PermutationValue => Node::PermValue(i),
                };
                dag.intern(n)
            }
        }
    }
}

/// A generated quotient kernel: one or more parts, each a module with one
/// kernel `quotient_part_<k>` evaluating a share of the constraints.
///
/// NVRTC's time and memory grow faster than linearly with a function's size
/// (one 37,000-node Keccak kernel did not finish in 13 minutes), so a large
/// table is cut into parts of at most [`PART_NODES`] nodes (fewer, larger
/// ones for the largest tables, see [`MAX_PARTS`]), compiled
/// separately (in parallel). Each part recomputes the shared nodes it needs
/// and adds its constraints' share into the output, the last one scaling
/// by `1/Z_H`; the sum, hence the result, is the same.
#[derive(Clone, Debug)]
pub struct Generated {
    /// The parts' sources, without [`QUOTIENT_CUH`] and field.cuh, which
    /// go in front of each when it is compiled.
    pub parts: Vec<String>,
    pub constraints: usize,
    /// Distinct DAG nodes, and of them base- and extension-field operations.
    pub nodes: usize,
    pub base_ops: usize,
    pub ext_ops: usize,
    /// Nodes emitted over all parts (shared nodes recomputed per part).
    pub emitted: usize,
}

/// The most nodes one part takes (a single constraint may exceed it),
/// unless that makes more than [`MAX_PARTS`] parts. Small parts keep few
/// values live: in one part, the CPU table's 774 nodes took 254 registers
/// a thread (the most there are) and 7.9 ms on an H100 for a 2^19-row
/// shard, and every table's kernels of a one-shard loop proof 9.8 ms; in
/// parts of at most 150 nodes, 5.1 ms (BENCHMARKS.md, stop 19).
pub const PART_NODES: usize = 150;

/// The most expression nodes a LogUp fraction kernel's part takes.
pub const LOGUP_PART_NODES: usize = 1500;

/// The most parts a table's kernel is cut into: each part reloads the
/// columns it reads and is a launch (and an NVRTC compile) of its own.
pub const MAX_PARTS: usize = 24;

/// The part size for a DAG of `nodes` nodes: [`PART_NODES`] (or
/// `CLOAK_QUOTIENT_PART_NODES`, for tuning), raised so that there are at
/// most about [`MAX_PARTS`] parts.
fn part_nodes(nodes: usize) -> usize {
    let base = std::env::var("CLOAK_QUOTIENT_PART_NODES")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(PART_NODES);
    base.max(nodes.div_ceil(MAX_PARTS))
}

/// Threads per block of the quotient kernels.
pub const QUOTIENT_BLOCK: u32 = 128;

/// The kernel name of part `k`.
pub fn part_kernel(k: usize) -> String {
    format!("quotient_part_{k}")
}

/// Generates the quotient kernel of `t` (see README.md for its layout).
pub fn generate(t: &TableConstraints) -> Result<Generated> {
    let mut dag = Dag::default();
    // Roots in the global order: constraint g = base_indices[k] or ext_indices[k].
    let mut roots = vec![0u32; t.total()];
    if t.base.len() != t.layout.base_indices.len() || t.ext.len() != t.layout.ext_indices.len() {
        return Err(GpuError::Invalid("constraints and layout disagree".into()));
    }
    for (e, &g) in t.base.iter().zip(&t.layout.base_indices) {
        roots[g] = dag.lower(e);
    }
    for (e, &g) in t.ext.iter().zip(&t.layout.ext_indices) {
        roots[g] = dag.lower(e);
    }
    if dag.periodic {
        return Err(GpuError::Invalid(
            "periodic columns are not supported by the quotient generator".into(),
        ));
    }
    check_bounds(&dag, t)?;
    let (mut base_ops, mut ext_ops) = (0, 0);
    for &n in &dag.nodes {
        match n {
            Node::Add(..) | Node::Sub(..) | Node::Neg(_) | Node::Mul(..) => base_ops += 1,
            n if n.is_ext() && !matches!(n, Node::EConst(_)) => ext_ops += 1,
            _ => {}
        }
    }
    let groups = partition(&dag, &roots, part_nodes(dag.nodes.len()));
    let parts: Vec<String> = groups
        .iter()
        .enumerate()
        .map(|(k, (nodes, gs))| emit_part(&dag, &roots, k, nodes, gs))
        .collect();
    Ok(Generated {
        constraints: t.total(),
        nodes: dag.nodes.len(),
        base_ops,
        ext_ops,
        emitted: groups.iter().map(|(n, _)| n.len()).sum(),
        parts,
    })
}

/// Cuts the constraints, in global order, into groups whose node closures
/// have at most `part_nodes` nodes; each group's nodes in id order.
fn partition(dag: &Dag, roots: &[u32], part_nodes: usize) -> Vec<(Vec<u32>, Vec<usize>)> {
    let mut groups = Vec::new();
    let mut in_part = vec![false; dag.nodes.len()];
    let (mut nodes, mut gs): (Vec<u32>, Vec<usize>) = (Vec::new(), Vec::new());
    for (g, &root) in roots.iter().enumerate() {
        // Nodes of this constraint's closure not yet in the part.
        let mut new = closure(dag, root, &in_part);
        if !gs.is_empty() && nodes.len() + new.len() > part_nodes {
            for &id in &nodes {
                in_part[id as usize] = false;
            }
            groups.push((std::mem::take(&mut nodes), std::mem::take(&mut gs)));
            // Recount against the empty part.
            new = closure(dag, root, &in_part);
        }
        for &id in &new {
            in_part[id as usize] = true;
        }
        nodes.extend(new);
        gs.push(g);
    }
    if !gs.is_empty() {
        groups.push((nodes, gs));
    }
    for (n, _) in &mut groups {
        n.sort_unstable();
    }
    groups
}

/// The nodes `root` depends on (itself included) that are not `in_part`.
fn closure(dag: &Dag, root: u32, in_part: &[bool]) -> Vec<u32> {
    let mut out = Vec::new();
    let mut stack = vec![root];
    let mut mark = std::collections::HashSet::new();
    while let Some(id) = stack.pop() {
        if in_part[id as usize] || !mark.insert(id) {
            continue;
        }
        out.push(id);
        stack.extend(children(dag.nodes[id as usize]));
    }
    out
}

fn children(n: Node) -> Vec<u32> {
    match n {
        Node::Add(a, b)
        | Node::Sub(a, b)
        | Node::Mul(a, b)
        | Node::EAdd(a, b)
        | Node::ESub(a, b)
        | Node::EMul(a, b)
        | Node::EAddB(a, b)
        | Node::ESubB(a, b)
        | Node::BSubE(a, b)
        | Node::EMulB(a, b) => vec![a, b],
        Node::Neg(a) | Node::ENeg(a) => vec![a],
        _ => vec![],
    }
}

/// The source of part `k`: the nodes `nodes` (id order is a topological
/// order) and the weighted sum of constraints `gs`.
fn emit_part(dag: &Dag, roots: &[u32], k: usize, nodes: &[u32], gs: &[usize]) -> String {
    let mut at_node: HashMap<u32, Vec<usize>> = HashMap::new();
    for &g in gs {
        at_node.entry(roots[g]).or_default().push(g);
    }
    let used = |n: Node| {
        dag.ids
            .get(&n)
            .is_some_and(|id| nodes.binary_search(id).is_ok())
    };
    let mut src = String::new();
    writeln!(
        src,
        "// Generated by cloak-gpu codegen: part {k}, {} constraints, {} nodes.",
        gs.len(),
        nodes.len()
    )
    .unwrap();
    writeln!(
        src,
        "extern \"C\" __global__ void {}(\n    \
         const u32* __restrict__ main_q, const u32* __restrict__ prep_q,\n    \
         const u32* __restrict__ perm_q, const u32* __restrict__ pub_vals,\n    \
         const u32* __restrict__ chal, const u32* __restrict__ perm_vals,\n    \
         const u32* __restrict__ alpha_pows, const u32* __restrict__ sel_consts,\n    \
         u32* __restrict__ out, u32 log_q, u32 log_step, u32 mode) {{\n    \
         const u64 q = 1ull << log_q;\n    \
         const u64 i = (u64)blockIdx.x * blockDim.x + threadIdx.x;\n    \
         if (i >= q) return;\n    \
         const u64 inx = (i + (1ull << log_step)) & (q - 1);\n    \
         const u32 zi = (u32)(i & ((1ull << log_step) - 1));\n    \
         (void)inx; (void)zi;",
        part_kernel(k)
    )
    .unwrap();
    // Only the selectors this part's constraints use are computed.
    if used(Node::IsFirst) || used(Node::IsLast) || used(Node::IsTransition) {
        src.push_str("    const u32 x = quot_point(sel_consts, i, log_q, log_step);\n");
    }
    if used(Node::IsTransition) {
        src.push_str("    const u32 sel_transition = kb_sub(x, sel_consts[2]);\n");
    }
    match (used(Node::IsFirst), used(Node::IsLast)) {
        (true, true) => src.push_str(
            "    u32 sel_first, sel_last;\n    \
             quot_first_last(sel_consts, x, zi, &sel_first, &sel_last);\n",
        ),
        (true, false) => src.push_str(
            "    const u32 sel_first = kb_mul(quot_zh(sel_consts, zi), \
             kb_inv(kb_sub(x, KB_ONE)));\n",
        ),
        (false, true) => src.push_str(
            "    const u32 sel_last = kb_mul(quot_zh(sel_consts, zi), \
             kb_inv(kb_sub(x, sel_consts[2])));\n",
        ),
        (false, false) => {}
    }
    // mode bit 0: add to what earlier parts wrote; bit 1: last part, scale by 1/Z_H.
    src.push_str("    kb4 acc = (mode & 1) ? kb4_load(out + 4 * i) : kb4_zero();\n");
    for &id in nodes {
        let n = dag.nodes[id as usize];
        let (ty, expr) = emit(n);
        let v = if n.is_ext() { 'e' } else { 'b' };
        writeln!(src, "    const {ty} {v}{id} = {expr};").unwrap();
        for &g in at_node.get(&id).into_iter().flatten() {
            let fold = if n.is_ext() {
                "kb4_mul"
            } else {
                "kb4_mul_base"
            };
            writeln!(
                src,
                "    acc = kb4_add(acc, {fold}(kb4_load(alpha_pows + {}), {v}{id}));",
                4 * g
            )
            .unwrap();
        }
    }
    src.push_str(
        "    if (mode & 2) acc = kb4_mul_base(acc, quot_inv_zh(sel_consts, zi, log_step));\n    \
         kb4_store(out + 4 * i, acc);\n}\n",
    );
    src
}

/// Every column, public value and challenge index is inside the layout.
fn check_bounds(dag: &Dag, t: &TableConstraints) -> Result<()> {
    for &n in &dag.nodes {
        let (what, i, bound) = match n {
            Node::Main(_, c) => ("main column", c, t.main_width),
            Node::Prep(_, c) => ("preprocessed column", c, t.preprocessed_width),
            Node::Public(k) => ("public value", k, t.num_public_values),
            Node::Perm(_, c) => ("permutation column", c, t.permutation_width),
            Node::Challenge(k) => ("challenge", k, t.num_challenges),
            Node::PermValue(k) => ("permutation value", k, t.num_permutation_values),
            _ => continue,
        };
        if i as usize >= bound {
            return Err(GpuError::Invalid(format!(
                "{what} {i} out of range ({bound})"
            )));
        }
    }
    Ok(())
}

/// The C type and expression of one node.
fn emit(n: Node) -> (&'static str, String) {
    let row = |next: bool| if next { "inx" } else { "i" };
    let b = |id: u32| format!("b{id}");
    let e = |id: u32| format!("e{id}");
    match n {
        Node::Const(c) => ("u32", format!("{c:#010x}u")),
        Node::Main(nx, c) => ("u32", format!("main_q[(u64){c} * q + {}]", row(nx))),
        Node::Prep(nx, c) => ("u32", format!("prep_q[(u64){c} * q + {}]", row(nx))),
        Node::Public(k) => ("u32", format!("pub_vals[{k}]")),
        Node::IsFirst => ("u32", "sel_first".into()),
        Node::IsLast => ("u32", "sel_last".into()),
        Node::IsTransition => ("u32", "sel_transition".into()),
        Node::Add(x, y) => ("u32", format!("kb_add({}, {})", b(x), b(y))),
        Node::Sub(x, y) => ("u32", format!("kb_sub({}, {})", b(x), b(y))),
        Node::Neg(x) => ("u32", format!("kb_neg({})", b(x))),
        Node::Mul(x, y) => ("u32", format!("kb_mul({}, {})", b(x), b(y))),
        Node::EConst(c) => (
            "kb4",
            format!(
                "kb4_make({:#010x}u, {:#010x}u, {:#010x}u, {:#010x}u)",
                c[0], c[1], c[2], c[3]
            ),
        ),
        Node::Perm(nx, c) => (
            "kb4",
            format!("quot_perm(perm_q, {}, q, {})", 4 * c, row(nx)),
        ),
        Node::Challenge(k) => ("kb4", format!("kb4_load(chal + {})", 4 * k)),
        Node::PermValue(k) => ("kb4", format!("kb4_load(perm_vals + {})", 4 * k)),
        Node::EAdd(x, y) => ("kb4", format!("kb4_add({}, {})", e(x), e(y))),
        Node::ESub(x, y) => ("kb4", format!("kb4_sub({}, {})", e(x), e(y))),
        Node::ENeg(x) => ("kb4", format!("kb4_neg({})", e(x))),
        Node::EMul(x, y) => ("kb4", format!("kb4_mul({}, {})", e(x), e(y))),
        Node::EAddB(x, y) => ("kb4", format!("kb4_add_base({}, {})", e(x), b(y))),
        Node::ESubB(x, y) => ("kb4", format!("kb4_sub_base({}, {})", e(x), b(y))),
        Node::BSubE(x, y) => ("kb4", format!("kb4_base_sub({}, {})", b(x), e(y))),
        Node::EMulB(x, y) => ("kb4", format!("kb4_mul_base({}, {})", e(x), b(y))),
    }
}

/// A lookup lowered into a DAG: its column, each tuple's element ids and
/// multiplicity id, and its flag ids (exclusive columns).
type LoweredLookup = (usize, Vec<(Vec<u32>, u32)>, Option<Vec<u32>>);

/// A generated LogUp kernel part: the fraction columns of some of a
/// table's lookups (see [`generate_logup`]).
#[derive(Clone, Debug)]
pub struct LogupPart {
    /// The source, without field.cuh (which goes in front when compiled).
    pub source: String,
    /// The kernel's name.
    pub kernel: String,
}

/// The kernels that fill a table's LogUp fraction columns, as p3-lookup's
/// `LogUpGadget::generate_permutation` fills them: for each row `i` (next
/// row `(i + 1) mod h`) and lookup `l` (challenges `alpha, beta` at
/// `chal[2·column]`, `chal[2·column + 1]`),
///
/// * additive: `Σ_j m_j / (alpha − Σ_k beta^(K−1−k) e_jk)`, a term with
///   `m_j = 0` skipped;
/// * exclusive (flags): `(Σ_j f_j m_j) / (Σ_j f_j (alpha − combine_j) + 1 − Σ_j f_j)`,
///
/// written to extension column `column + 1` of the row-major
/// `h × (lookups + 1)` permutation trace. Every value is exact, so the
/// order of operations does not matter. Lookups are grouped into parts of
/// at most [`LOGUP_PART_NODES`] expression nodes (NVRTC's limits).
pub fn generate_logup(
    lookups: &[p3_lookup::Lookup<Val>],
    main_width: usize,
    preprocessed_width: usize,
    num_public_values: usize,
) -> Result<Vec<LogupPart>> {
    // Group lookups so each part's expression DAG stays small.
    let mut groups: Vec<Vec<&p3_lookup::Lookup<Val>>> = Vec::new();
    let mut size = 0usize;
    for l in lookups {
        // The lookup's own node count (shared nodes counted once per lookup).
        let mut scratch = Dag::default();
        for e in l
            .elements
            .iter()
            .flatten()
            .chain(&l.multiplicities)
            .chain(l.flags.iter().flatten())
        {
            scratch.lower(e);
        }
        let n = scratch.nodes.len() + 8;
        if groups.is_empty() || size + n > LOGUP_PART_NODES {
            groups.push(Vec::new());
            size = 0;
        }
        size += n;
        groups.last_mut().expect("pushed").push(l);
    }
    let bounds = TableConstraints {
        base: vec![],
        ext: vec![],
        layout: Default::default(),
        main_width,
        preprocessed_width,
        permutation_width: 0,
        num_public_values,
        num_challenges: 0,
        num_permutation_values: 0,
    };
    groups
        .iter()
        .enumerate()
        .map(|(p, group)| {
            let mut dag = Dag::default();
            // Per lookup: (column, per tuple (element ids, multiplicity id), flag ids).
            let lowered: Vec<LoweredLookup> = group
                .iter()
                .map(|l| {
                    let tuples = l
                        .elements
                        .iter()
                        .zip(&l.multiplicities)
                        .map(|(es, m)| (es.iter().map(|e| dag.lower(e)).collect(), dag.lower(m)))
                        .collect();
                    let flags = l
                        .flags
                        .as_ref()
                        .map(|fs| fs.iter().map(|f| dag.lower(f)).collect());
                    (l.column, tuples, flags)
                })
                .collect();
            if dag.periodic || dag.nodes.iter().any(|n| n.is_ext()) {
                return Err(GpuError::Invalid(
                    "LogUp expressions must be base-field column expressions".into(),
                ));
            }
            check_bounds(&dag, &bounds)?;
            Ok(emit_logup(p, &dag, &lowered))
        })
        .collect()
}

fn emit_logup(p: usize, dag: &Dag, lowered: &[LoweredLookup]) -> LogupPart {
    let kernel = format!("logup_part_{p}");
    let mut src = String::new();
    writeln!(
        src,
        "// Generated by cloak-gpu codegen: LogUp part {p}, {} lookups, {} nodes.\n\
         extern \"C\" __global__ void {kernel}(\n    \
         const u32* __restrict__ main_t, const u32* __restrict__ prep_t,\n    \
         const u32* __restrict__ pub_vals, const u32* __restrict__ chal,\n    \
         u32* __restrict__ aux, u64 h, u32 w_main, u32 w_prep, u32 aux_w) {{\n    \
         const u64 i = (u64)blockIdx.x * blockDim.x + threadIdx.x;\n    \
         if (i >= h) return;\n    \
         const u64 inx = i + 1 == h ? 0 : i + 1;\n    \
         const u32 sel_first = i == 0 ? KB_ONE : 0u;\n    \
         const u32 sel_last = i + 1 == h ? KB_ONE : 0u;\n    \
         const u32 sel_transition = i + 1 == h ? 0u : KB_ONE;\n    \
         (void)inx; (void)sel_first; (void)sel_last; (void)sel_transition;\n    \
         (void)main_t; (void)prep_t; (void)pub_vals; (void)w_main; (void)w_prep;",
        lowered.len(),
        dag.nodes.len()
    )
    .unwrap();
    for (id, &n) in dag.nodes.iter().enumerate() {
        let row = |next: bool| if next { "inx" } else { "i" };
        let expr = match n {
            Node::Main(nx, c) => format!("main_t[{} * w_main + {c}]", row(nx)),
            Node::Prep(nx, c) => format!("prep_t[{} * w_prep + {c}]", row(nx)),
            other => emit(other).1,
        };
        writeln!(src, "    const u32 b{id} = {expr};").unwrap();
    }
    for (column, tuples, flags) in lowered {
        writeln!(
            src,
            "    {{\n        const kb4 alpha = kb4_load(chal + {}), beta = kb4_load(chal + {});\n        \
             (void)beta;",
            8 * column,
            8 * column + 4
        )
        .unwrap();
        // The tuple's combination: Horner in beta, highest power first.
        let combine = |es: &[u32]| -> String {
            match es.split_first() {
                None => "kb4_zero()".into(),
                Some((first, rest)) => {
                    let mut c = format!("kb4_make(b{first}, 0u, 0u, 0u)");
                    for e in rest {
                        c = format!("kb4_add_base(kb4_mul({c}, beta), b{e})");
                    }
                    c
                }
            }
        };
        match flags {
            None => {
                src.push_str("        kb4 frac = kb4_zero();\n");
                for (es, m) in tuples {
                    writeln!(
                        src,
                        "        if (b{m} != 0u) frac = kb4_add(frac, kb4_mul_base(kb4_inv(kb4_sub(alpha, {})), b{m}));",
                        combine(es)
                    )
                    .unwrap();
                }
            }
            Some(fs) => {
                src.push_str("        u32 num = 0u, fsum = 0u;\n        kb4 den = kb4_zero();\n");
                for ((es, m), f) in tuples.iter().zip(fs) {
                    writeln!(
                        src,
                        "        if (b{f} != 0u) {{\n            fsum = kb_add(fsum, b{f});\n            \
                         num = kb_add(num, kb_mul(b{f}, b{m}));\n            \
                         den = kb4_add(den, kb4_mul_base(kb4_sub(alpha, {}), b{f}));\n        }}",
                        combine(es)
                    )
                    .unwrap();
                }
                src.push_str(
                    "        den = kb4_add_base(den, kb_sub(KB_ONE, fsum));\n        \
                     kb4 frac = kb4_mul_base(kb4_inv(den), num);\n",
                );
            }
        }
        writeln!(
            src,
            "        kb4_store(aux + 4 * (i * aux_w + {}), frac);\n    }}",
            column + 1
        )
        .unwrap();
    }
    src.push_str("}\n");
    LogupPart {
        source: src,
        kernel,
    }
}
