//! Reads an HDF5 table, the layout PyTables writes (a one-dimensional dataset of a compound type),
//! a chunk of rows at a time, with HDF5 converting each wanted field to a native type.
//!
//! hdf5-metno opens the file and the dataset and owns every identifier; what its safe API cannot
//! do is describe a multi-dimensional array member (a PyTables column of shape 32 x 32 is an HDF5
//! array type of rank 2), so listing the members and building the memory type of a read go
//! through the C API here. Each `unsafe` block is one C call on identifiers that hdf5-metno
//! handles own, or on buffers sized by this module.
#![cfg_attr(test, allow(clippy::unwrap_used))] // tests fail by panicking: an unwrap there is the check

use hdf5::filters::Filter;
use hdf5::types::{FloatSize, IntSize, TypeDescriptor};
use hdf5::{Dataspace, Datatype};
use hdf5_sys::h5t::H5T_class_t;
use std::ffi::{CStr, CString};
use std::path::{Path, PathBuf};

/// What can go wrong, naming the file (and the node or the field).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}: cannot open as HDF5: {message}", path.display())]
    Open { path: PathBuf, message: String },
    #[error("{}: no node `{node}`; the root holds: {found}", path.display())]
    NoNode { path: PathBuf, node: String, found: String },
    #[error("{}: `{node}` is {what}, not a table (a one-dimensional dataset of rows with named fields)", path.display())]
    NotATable { path: PathBuf, node: String, what: String },
    #[error("{}: `{node}` is compressed with {filter}, which this HDF5 library cannot decode; re-save it with zlib (PyTables: `ptrepack --complib=zlib --complevel=5 {}:/{node} NEW.hdf5:/{node}`) and import that", path.display(), path.display())]
    Filter { path: PathBuf, node: String, filter: String },
    #[error("{}: `{node}`: {message}", path.display())]
    Hdf5 { path: PathBuf, node: String, message: String },
    #[error("{}: `{node}` is {link}, which leads nowhere (a dangling link); give the file that holds the table, or link `/{node}` to the table (PyTables: `remove_node('/{node}')`, then `create_soft_link('/', '{node}', '/TABLE')`)", path.display())]
    Dangling { path: PathBuf, node: String, link: String },
}

/// A numeric HDF5 type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scalar {
    Int { signed: bool, bytes: usize },
    Float { bytes: usize },
}

impl std::fmt::Display for Scalar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Scalar::Int { signed: true, bytes } => write!(f, "int{}", bytes * 8),
            Scalar::Int { signed: false, bytes } => write!(f, "uint{}", bytes * 8),
            Scalar::Float { bytes } => write!(f, "float{}", bytes * 8),
        }
    }
}

/// The type of a field of the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldType {
    Scalar(Scalar),
    /// An array member: element type and dimensions (e.g. uint8, [32, 32]).
    Array(Scalar, Vec<usize>),
    /// An array member whose elements are not numbers read here: what they are in words (`bool`,
    /// `a string`, ...) and the dimensions.
    ArrayOf(String, Vec<usize>),
    /// Anything else (strings, nested compounds, arrays of those), described in words.
    Other(String),
}

impl std::fmt::Display for FieldType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FieldType::Scalar(s) => write!(f, "{s}"),
            FieldType::Array(s, dims) => write!(f, "{s} of {}", dims_text(dims)),
            FieldType::ArrayOf(what, dims) => write!(f, "{what} of {}", dims_text(dims)),
            FieldType::Other(w) => f.write_str(w),
        }
    }
}

/// `32 x 32`.
fn dims_text(dims: &[usize]) -> String {
    dims.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(" x ")
}

/// A field of the table, in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub name: String,
    pub ty: FieldType,
}

/// The native types a field can be read as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Native {
    U8,
    U16,
    I64,
    U64,
    F32,
    F64,
}

impl Native {
    pub fn bytes(self) -> usize {
        match self {
            Native::U8 => 1,
            Native::U16 => 2,
            Native::F32 => 4,
            Native::I64 | Native::U64 | Native::F64 => 8,
        }
    }
    fn datatype(self) -> hdf5::Result<Datatype> {
        match self {
            Native::U8 => Datatype::from_type::<u8>(),
            Native::U16 => Datatype::from_type::<u16>(),
            Native::I64 => Datatype::from_type::<i64>(),
            Native::U64 => Datatype::from_type::<u64>(),
            Native::F32 => Datatype::from_type::<f32>(),
            Native::F64 => Datatype::from_type::<f64>(),
        }
    }
}

/// One field to read: its name, the native type of its elements and its dimensions (empty for a
/// scalar field; equal to the file's for an array field).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Want {
    pub name: String,
    pub native: Native,
    pub dims: Vec<usize>,
}

impl Want {
    pub fn elements(&self) -> usize {
        self.dims.iter().product()
    }
}

/// The memory layout of a read: the wanted fields packed one after the other in each row, in the
/// order given, native-endian.
pub struct Layout {
    mem: Datatype,
    /// Byte offset of each wanted field in a row.
    pub offsets: Vec<usize>,
    /// Bytes per row.
    pub row_bytes: usize,
}

/// An open table.
pub struct Table {
    path: PathBuf,
    node: String,
    // Field order matters for drop: the dataset before the file.
    ds: hdf5::Dataset,
    _file: hdf5::File,
    pub rows: usize,
    pub fields: Vec<Field>,
}

fn scalar(desc: &TypeDescriptor) -> Option<Scalar> {
    let int = |s: &IntSize| match s {
        IntSize::U1 => 1,
        IntSize::U2 => 2,
        IntSize::U4 => 4,
        IntSize::U8 => 8,
    };
    Some(match desc {
        TypeDescriptor::Integer(s) => Scalar::Int { signed: true, bytes: int(s) },
        TypeDescriptor::Unsigned(s) => Scalar::Int { signed: false, bytes: int(s) },
        TypeDescriptor::Float(FloatSize::U4) => Scalar::Float { bytes: 4 },
        TypeDescriptor::Float(FloatSize::U8) => Scalar::Float { bytes: 8 },
        _ => return None,
    })
}

/// The type of one element: a number read here (half floats included, which HDF5 converts), or
/// what it is in words (`bool`, `a string`, ...).
#[allow(unsafe_code)]
fn element(ty: &Datatype) -> Result<Scalar, String> {
    if let Some(s) = ty.to_descriptor().ok().as_ref().and_then(scalar) {
        return Ok(s);
    }
    let class = hdf5::h5lock!(hdf5_sys::h5t::H5Tget_class(ty.id()));
    let size = hdf5::h5lock!(hdf5_sys::h5t::H5Tget_size(ty.id()));
    let boolean = matches!(ty.to_descriptor(), Ok(TypeDescriptor::Boolean));
    match class {
        H5T_class_t::H5T_FLOAT if size == 2 => Ok(Scalar::Float { bytes: 2 }),
        // PyTables stores numpy's bool as an 8-bit bit field, h5py as an enum FALSE/TRUE.
        H5T_class_t::H5T_BITFIELD if size == 1 => Err("bool".into()),
        _ if boolean => Err("bool".into()),
        H5T_class_t::H5T_FLOAT | H5T_class_t::H5T_INTEGER => Err(format!("{} of {} bits", class_name(class), size * 8)),
        _ => Err(class_name(class).to_string()),
    }
}

fn class_name(class: H5T_class_t) -> &'static str {
    match class {
        H5T_class_t::H5T_INTEGER => "an integer",
        H5T_class_t::H5T_FLOAT => "a float",
        H5T_class_t::H5T_STRING => "a string",
        H5T_class_t::H5T_COMPOUND => "a compound",
        H5T_class_t::H5T_ENUM => "an enum",
        H5T_class_t::H5T_ARRAY => "an array",
        H5T_class_t::H5T_VLEN => "a variable-length sequence",
        H5T_class_t::H5T_REFERENCE => "a reference",
        H5T_class_t::H5T_OPAQUE => "an opaque type",
        H5T_class_t::H5T_BITFIELD => "a bit field",
        H5T_class_t::H5T_TIME => "a time",
        _ => "an unknown type",
    }
}

/// Wraps an identifier returned by the C library (negative: the error on HDF5's stack).
#[allow(unsafe_code)]
fn own(id: hdf5_sys::h5i::hid_t) -> hdf5::Result<Datatype> {
    let id = hdf5::h5check(id)?;
    // SAFETY: `id` is a new datatype identifier with a reference count of 1, handed to one handle.
    unsafe { hdf5::from_id::<Datatype>(id) }
}

#[allow(unsafe_code)]
fn describe(ty: &Datatype) -> hdf5::Result<FieldType> {
    let class = hdf5::h5lock!(hdf5_sys::h5t::H5Tget_class(ty.id()));
    if class == H5T_class_t::H5T_ARRAY {
        let rank = hdf5::h5call!(hdf5_sys::h5t::H5Tget_array_ndims(ty.id()))?;
        let mut dims = vec![0 as hdf5_sys::h5::hsize_t; rank.max(0) as usize];
        hdf5::h5call!(hdf5_sys::h5t::H5Tget_array_dims2(ty.id(), dims.as_mut_ptr()))?;
        let base = own(hdf5::h5lock!(hdf5_sys::h5t::H5Tget_super(ty.id())))?;
        let dims = dims.iter().map(|&d| d as usize).collect();
        return Ok(match element(&base) {
            Ok(s) => FieldType::Array(s, dims),
            Err(what) => FieldType::ArrayOf(what, dims),
        });
    }
    Ok(match element(ty) {
        Ok(s) => FieldType::Scalar(s),
        Err(what) => FieldType::Other(what),
    })
}

/// What `node` (a member of the root) is when it is a soft or an external link: "a soft link to
/// `/x`", "an external link to `/df` in other.h5"; None for a hard link (a node itself).
#[allow(unsafe_code)]
fn link_of(file: &hdf5::File, node: &str) -> Option<String> {
    let mut kind = None;
    file.iter_visit_default(|name, info| {
        if name == node {
            kind = Some(info.link_type);
        }
        Ok(())
    })
    .ok()?;
    let kind = kind.filter(|k| *k != hdf5::LinkType::Hard)?;
    let cname = CString::new(node).ok()?;
    let mut buf = vec![0u8; 4096];
    // SAFETY: `buf` holds `buf.len()` bytes, the size given; HDF5 writes at most that many.
    let got = hdf5::h5lock!(hdf5_sys::h5l::H5Lget_val(file.id(), cname.as_ptr(), buf.as_mut_ptr().cast(), buf.len(), hdf5_sys::h5p::H5P_DEFAULT));
    // A soft link's value is its path; an external link's a flags byte, then the file and the path.
    let mut parts =
        buf.get(usize::from(kind != hdf5::LinkType::Soft)..).unwrap_or_default().split(|&b| b == 0).map(|b| String::from_utf8_lossy(b).into_owned());
    let (first, second) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
    Some(match kind {
        _ if got < 0 => "a link whose target cannot be read".to_string(),
        hdf5::LinkType::Soft => format!("a soft link to `{first}`"),
        _ => format!("an external link to `{second}` in {first}"),
    })
}

impl Table {
    /// Opens `node` (e.g. `df`) of the file at `path` and lists its fields.
    #[allow(unsafe_code)]
    pub fn open(path: &Path, node: &str) -> Result<Table, Error> {
        let h5 = |e: hdf5::Error| Error::Hdf5 { path: path.to_path_buf(), node: node.to_string(), message: e.to_string() };
        let file = hdf5::File::open(path).map_err(|e| Error::Open { path: path.to_path_buf(), message: e.to_string() })?;
        if !file.link_exists(node) {
            let names = file.member_names().map_err(h5)?;
            let found = if names.is_empty() { "nothing".to_string() } else { names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ") };
            return Err(Error::NoNode { path: path.to_path_buf(), node: node.to_string(), found });
        }
        let not_table = |what: String| Error::NotATable { path: path.to_path_buf(), node: node.to_string(), what };
        let ds = match file.dataset(node) {
            Ok(ds) => ds,
            Err(_) => {
                if let Some(link) = link_of(&file, node) {
                    if file.group(node).is_err() {
                        return Err(Error::Dangling { path: path.to_path_buf(), node: node.to_string(), link });
                    }
                }
                let what = match file.group(node).and_then(|g| g.member_names()) {
                    Ok(m) => format!(
                        "a group holding {} (pandas `to_hdf` writes such a group; save with PyTables, or pandas `format=\"table\"` then read `/df/table`)",
                        if m.is_empty() { "nothing".into() } else { m.join(", ") }
                    ),
                    Err(_) => "neither a dataset nor a group".into(),
                };
                return Err(not_table(what));
            }
        };
        let shape = ds.shape();
        if shape.len() != 1 {
            return Err(not_table(format!("a dataset of shape {shape:?}")));
        }
        for f in ds.filters() {
            if !Filter::get_info(f.id()).decode_enabled {
                let filter = match f.id() {
                    32001 => "blosc (a compressor PyTables registers itself)".to_string(),
                    32000 => "lzf".into(),
                    32004 => "lz4".into(),
                    32008 => "bitshuffle".into(),
                    32015 => "zstd".into(),
                    307 => "bzip2".into(),
                    id => format!("HDF5 filter {id}"),
                };
                return Err(Error::Filter { path: path.to_path_buf(), node: node.to_string(), filter });
            }
        }
        let ty = ds.dtype().map_err(h5)?;
        let class = hdf5::h5lock!(hdf5_sys::h5t::H5Tget_class(ty.id()));
        if class != H5T_class_t::H5T_COMPOUND {
            return Err(not_table(format!("a dataset of {} type", class_name(class).trim_start_matches("an ").trim_start_matches("a "))));
        }
        let n = hdf5::h5call!(hdf5_sys::h5t::H5Tget_nmembers(ty.id())).map_err(h5)?;
        let mut fields = Vec::new();
        for i in 0..n.max(0) as u32 {
            let name_ptr = hdf5::h5lock!(hdf5_sys::h5t::H5Tget_member_name(ty.id(), i));
            if name_ptr.is_null() {
                return Err(h5(hdf5::Error::Internal(format!("cannot read the name of field {i}"))));
            }
            // SAFETY: a non-null pointer from H5Tget_member_name is a NUL-terminated string the
            // caller owns; it is copied, then freed once with H5free_memory.
            let name = unsafe { CStr::from_ptr(name_ptr) }.to_string_lossy().into_owned();
            hdf5::h5lock!(hdf5_sys::h5::H5free_memory(name_ptr.cast()));
            let member = own(hdf5::h5lock!(hdf5_sys::h5t::H5Tget_member_type(ty.id(), i))).map_err(h5)?;
            fields.push(Field { name, ty: describe(&member).map_err(h5)? });
        }
        Ok(Table { path: path.to_path_buf(), node: node.to_string(), rows: shape[0], ds, _file: file, fields })
    }

    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }

    fn err(&self, e: hdf5::Error) -> Error {
        Error::Hdf5 { path: self.path.clone(), node: self.node.clone(), message: e.to_string() }
    }

    /// The memory type that reads `wants` (fields of this table) packed in that order.
    #[allow(unsafe_code)]
    pub fn layout(&self, wants: &[Want]) -> Result<Layout, Error> {
        let mut offsets = Vec::with_capacity(wants.len());
        let mut row_bytes = 0;
        for w in wants {
            offsets.push(row_bytes);
            row_bytes += w.native.bytes() * w.elements();
        }
        let mem = own(hdf5::h5lock!(hdf5_sys::h5t::H5Tcreate(H5T_class_t::H5T_COMPOUND, row_bytes.max(1)))).map_err(|e| self.err(e))?;
        for (w, &off) in wants.iter().zip(&offsets) {
            let base = w.native.datatype().map_err(|e| self.err(e))?;
            let member = if w.dims.is_empty() {
                base
            } else {
                let dims: Vec<hdf5_sys::h5::hsize_t> = w.dims.iter().map(|&d| d as _).collect();
                own(hdf5::h5lock!(hdf5_sys::h5t::H5Tarray_create2(base.id(), dims.len() as u32, dims.as_ptr()))).map_err(|e| self.err(e))?
            };
            let cname = CString::new(w.name.as_str()).map_err(|_| self.err(hdf5::Error::Internal(format!("field name {:?} holds a NUL", w.name))))?;
            hdf5::h5call!(hdf5_sys::h5t::H5Tinsert(mem.id(), cname.as_ptr(), off, member.id())).map_err(|e| self.err(e))?;
        }
        Ok(Layout { mem, offsets, row_bytes })
    }

    /// Reads rows `start .. start + count` into `buf` (resized to `count * layout.row_bytes`),
    /// converting each field to its native type.
    #[allow(unsafe_code)]
    pub fn read(&self, layout: &Layout, start: usize, count: usize, buf: &mut Vec<u8>) -> Result<(), Error> {
        buf.clear();
        buf.resize(count * layout.row_bytes, 0);
        if count == 0 {
            return Ok(());
        }
        let e = |e| self.err(e);
        let fspace = self.ds.space().map_err(e)?.select(start..start + count).map_err(e)?;
        let mspace = Dataspace::try_new(count).map_err(e)?;
        hdf5::h5call!(hdf5_sys::h5d::H5Dread(self.ds.id(), layout.mem.id(), mspace.id(), fspace.id(), hdf5_sys::h5p::H5P_DEFAULT, buf.as_mut_ptr().cast()))
            .map_err(e)?;
        Ok(())
    }
}
