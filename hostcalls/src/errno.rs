//! WASI preview1 error numbers (`errno` in the witx) and their mapping from host I/O errors.

use std::fmt;
use std::io;

/// An error number of `wasi_snapshot_preview1`, with the value the witx gives it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u16)]
#[allow(missing_docs)] // The names are the witx's; see the preview1 documentation.
pub enum Errno {
    Success = 0,
    TooBig = 1,
    Access = 2,
    AddrInUse = 3,
    AddrNotAvail = 4,
    AfNoSupport = 5,
    Again = 6,
    Already = 7,
    BadF = 8,
    BadMsg = 9,
    Busy = 10,
    Canceled = 11,
    Child = 12,
    ConnAborted = 13,
    ConnRefused = 14,
    ConnReset = 15,
    DeadLk = 16,
    DestAddrReq = 17,
    Dom = 18,
    DQuot = 19,
    Exist = 20,
    Fault = 21,
    FBig = 22,
    HostUnreach = 23,
    IdRm = 24,
    IlSeq = 25,
    InProgress = 26,
    Intr = 27,
    Inval = 28,
    Io = 29,
    IsConn = 30,
    IsDir = 31,
    Loop = 32,
    MFile = 33,
    MLink = 34,
    MsgSize = 35,
    MultiHop = 36,
    NameTooLong = 37,
    NetDown = 38,
    NetReset = 39,
    NetUnreach = 40,
    NFile = 41,
    NoBufs = 42,
    NoDev = 43,
    NoEnt = 44,
    NoExec = 45,
    NoLck = 46,
    NoLink = 47,
    NoMem = 48,
    NoMsg = 49,
    NoProtoOpt = 50,
    NoSpc = 51,
    NoSys = 52,
    NotConn = 53,
    NotDir = 54,
    NotEmpty = 55,
    NotRecoverable = 56,
    NotSock = 57,
    NotSup = 58,
    NoTty = 59,
    NxIo = 60,
    Overflow = 61,
    OwnerDead = 62,
    Perm = 63,
    Pipe = 64,
    Proto = 65,
    ProtoNoSupport = 66,
    ProtoType = 67,
    Range = 68,
    RoFs = 69,
    SPipe = 70,
    Srch = 71,
    Stale = 72,
    TimedOut = 73,
    TxtBsy = 74,
    XDev = 75,
    NotCapable = 76,
}

impl Errno {
    /// The number a WASI function returns for this error.
    pub fn raw(self) -> u16 {
        self as u16
    }

    /// The errno for a Linux `errno` value (x86-64 numbering), `Io` for unknown ones.
    pub fn from_linux(code: i32) -> Errno {
        use Errno::*;
        match code {
            1 => Perm,
            2 => NoEnt,
            3 => Srch,
            4 => Intr,
            5 => Io,
            6 => NxIo,
            7 => TooBig,
            8 => NoExec,
            9 => BadF,
            10 => Child,
            11 => Again,
            12 => NoMem,
            13 => Access,
            14 => Fault,
            16 => Busy,
            17 => Exist,
            18 => XDev,
            19 => NoDev,
            20 => NotDir,
            21 => IsDir,
            22 => Inval,
            23 => NFile,
            24 => MFile,
            25 => NoTty,
            26 => TxtBsy,
            27 => FBig,
            28 => NoSpc,
            29 => SPipe,
            30 => RoFs,
            31 => MLink,
            32 => Pipe,
            33 => Dom,
            34 => Range,
            35 => DeadLk,
            36 => NameTooLong,
            37 => NoLck,
            38 => NoSys,
            39 => NotEmpty,
            40 => Loop,
            42 => NoMsg,
            43 => IdRm,
            67 => NoLink,
            71 => Proto,
            72 => MultiHop,
            74 => BadMsg,
            75 => Overflow,
            84 => IlSeq,
            88 => NotSock,
            89 => DestAddrReq,
            90 => MsgSize,
            91 => ProtoType,
            92 => NoProtoOpt,
            93 => ProtoNoSupport,
            95 => NotSup,
            97 => AfNoSupport,
            98 => AddrInUse,
            99 => AddrNotAvail,
            100 => NetDown,
            101 => NetUnreach,
            102 => NetReset,
            103 => ConnAborted,
            104 => ConnReset,
            105 => NoBufs,
            106 => IsConn,
            107 => NotConn,
            110 => TimedOut,
            111 => ConnRefused,
            113 => HostUnreach,
            114 => Already,
            115 => InProgress,
            116 => Stale,
            122 => DQuot,
            125 => Canceled,
            130 => OwnerDead,
            131 => NotRecoverable,
            _ => Io,
        }
    }
}

impl From<rustix::io::Errno> for Errno {
    fn from(errno: rustix::io::Errno) -> Errno {
        io::Error::from(errno).into()
    }
}

impl From<io::Error> for Errno {
    fn from(error: io::Error) -> Errno {
        if let Some(code) = error.raw_os_error() {
            return Errno::from_linux(code);
        }
        // Errors std and cap-std make up themselves (no OS code): map by kind.
        match error.kind() {
            io::ErrorKind::NotFound => Errno::NoEnt,
            // cap-std's answer to a path that would lead outside its directory (an absolute
            // path, `..` above it, a link out of it): `EPERM`, as Wasmtime gives. A real
            // `EACCES` from the kernel carries its code and is mapped above.
            io::ErrorKind::PermissionDenied => Errno::Perm,
            io::ErrorKind::AlreadyExists => Errno::Exist,
            io::ErrorKind::InvalidInput | io::ErrorKind::InvalidData => Errno::Inval,
            io::ErrorKind::UnexpectedEof => Errno::Io,
            io::ErrorKind::WouldBlock => Errno::Again,
            io::ErrorKind::Interrupted => Errno::Intr,
            io::ErrorKind::Unsupported => Errno::NotSup,
            io::ErrorKind::OutOfMemory => Errno::NoMem,
            io::ErrorKind::BrokenPipe => Errno::Pipe,
            _ => Errno::Io,
        }
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self:?} (errno {})", self.raw())
    }
}

impl std::error::Error for Errno {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_match_the_witx() {
        assert_eq!(Errno::Success.raw(), 0);
        assert_eq!(Errno::BadF.raw(), 8);
        assert_eq!(Errno::Fault.raw(), 21);
        assert_eq!(Errno::Inval.raw(), 28);
        assert_eq!(Errno::NoEnt.raw(), 44);
        assert_eq!(Errno::NoSys.raw(), 52);
        assert_eq!(Errno::NotSup.raw(), 58);
        assert_eq!(Errno::Perm.raw(), 63);
        assert_eq!(Errno::NotCapable.raw(), 76);
    }

    #[test]
    fn os_errors_map_by_code() {
        assert_eq!(Errno::from(io::Error::from_raw_os_error(2)), Errno::NoEnt);
        assert_eq!(Errno::from(io::Error::from_raw_os_error(40)), Errno::Loop);
        assert_eq!(
            Errno::from(io::Error::from_raw_os_error(39)),
            Errno::NotEmpty
        );
        assert_eq!(Errno::from(io::Error::from_raw_os_error(9999)), Errno::Io);
        let made_up = io::Error::new(io::ErrorKind::InvalidInput, "x");
        assert_eq!(Errno::from(made_up), Errno::Inval);
        let escape = io::Error::new(io::ErrorKind::PermissionDenied, "outside");
        assert_eq!(Errno::from(escape), Errno::Perm);
        assert_eq!(Errno::from(io::Error::from_raw_os_error(13)), Errno::Access);
    }
}
