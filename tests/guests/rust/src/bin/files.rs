//! Files in a pre-opened directory (the first argument): create, write, read, seek, append,
//! truncate, stat, rename, readdir, unlink, directories, and the errors of each misuse.
//! The test puts `input.txt` in the directory first and reads `output.txt` afterwards.
#![forbid(unsafe_code)]

use faasm_test_guests::{describe, dir_argument, expect_failure, fnv1a, report};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::time::{Duration, SystemTime};

fn main() {
    let dir = dir_argument();
    host_files(&dir);
    write_read_seek(&dir);
    big_file(&dir);
    rename_readdir_unlink(&dir);
    directories(&dir);
    errors(&dir);
    println!("files: done");
}

/// The file the host wrote, and one for the host to read.
fn host_files(dir: &str) {
    let input = fs::read_to_string(format!("{dir}/input.txt")).expect("reading input.txt");
    println!("input.txt: {:?}", input);
    fs::write(format!("{dir}/output.txt"), "written by the guest\n").expect("writing output.txt");
    println!("output.txt: written");
}

fn write_read_seek(dir: &str) {
    let path = format!("{dir}/a.txt");
    let mut file = File::create(&path).expect("creating a.txt");
    file.write_all(b"hello world\nsecond line\n")
        .expect("writing a.txt");
    drop(file);
    println!(
        "a.txt: size {}",
        fs::metadata(&path).expect("stat a.txt").len()
    );

    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .expect("opening a.txt");
    file.seek(SeekFrom::Start(6)).expect("seek to 6");
    file.write_all(b"WORLD").expect("overwriting at 6");
    let end = file.seek(SeekFrom::End(-5)).expect("seek from the end");
    let mut tail = String::new();
    file.read_to_string(&mut tail).expect("reading the tail");
    println!("a.txt: seek end-5 = {end}, tail {tail:?}");
    let at = file.stream_position().expect("position");
    file.seek(SeekFrom::Current(-(at as i64)))
        .expect("seek back to the start");
    let mut all = String::new();
    file.read_to_string(&mut all).expect("reading a.txt");
    println!("a.txt: {all:?}");

    let mut append = OpenOptions::new()
        .append(true)
        .open(&path)
        .expect("opening to append");
    append.write_all(b"appended\n").expect("appending");
    println!("a.txt: size after append {}", size(&path));
    append.set_len(5).expect("truncating");
    println!(
        "a.txt: size after set_len(5) {}, {:?}",
        size(&path),
        read(&path)
    );
}

/// A 1 MiB file in 64 KiB writes, read back whole: many `fd_write`/`fd_read` calls.
fn big_file(dir: &str) {
    let path = format!("{dir}/big.bin");
    let chunk: Vec<u8> = (0..65536u32).map(|i| (i * 7 % 251) as u8).collect();
    let mut file = File::create(&path).expect("creating big.bin");
    for _ in 0..16 {
        file.write_all(&chunk).expect("writing big.bin");
    }
    drop(file);
    let bytes = fs::read(&path).expect("reading big.bin");
    let expected: Vec<u8> = chunk.repeat(16);
    println!(
        "big.bin: {} bytes, fnv1a {:016x}, same as written: {}",
        bytes.len(),
        fnv1a(&bytes),
        bytes == expected
    );
    fs::remove_file(&path).expect("removing big.bin");
}

fn rename_readdir_unlink(dir: &str) {
    let (a, b) = (format!("{dir}/a.txt"), format!("{dir}/b.txt"));
    fs::rename(&a, &b).expect("renaming a.txt to b.txt");
    println!(
        "rename a.txt -> b.txt: a exists {}, b exists {}",
        exists(&a),
        exists(&b)
    );
    println!("readdir: {}", list(dir).join(" "));
    fs::remove_file(&b).expect("removing b.txt");
    println!("unlink b.txt: b exists {}", exists(&b));
    println!("readdir: {}", list(dir).join(" "));
}

fn directories(dir: &str) {
    let sub = format!("{dir}/sub");
    fs::create_dir(&sub).expect("creating sub");
    fs::create_dir_all(format!("{sub}/deeper/deepest")).expect("creating sub/deeper/deepest");
    fs::write(format!("{sub}/deeper/f.txt"), "x").expect("writing sub/deeper/f.txt");
    let meta = fs::metadata(&sub).expect("stat sub");
    println!("sub: is_dir {}, is_file {}", meta.is_dir(), meta.is_file());
    let meta = fs::metadata(format!("{sub}/deeper/f.txt")).expect("stat f.txt");
    println!(
        "sub/deeper/f.txt: is_file {}, len {}, recent mtime {}",
        meta.is_file(),
        meta.len(),
        recent(meta.modified())
    );
    println!(
        "readdir sub/deeper: {}",
        list(&format!("{sub}/deeper")).join(" ")
    );
    report("remove_dir of a non-empty sub", fs::remove_dir(&sub));
    report("remove_dir_all sub", fs::remove_dir_all(&sub));
    println!("sub exists {}", exists(&sub));
}

/// What each misuse returns, as an errno name.
fn errors(dir: &str) {
    report(
        "open a missing file",
        File::open(format!("{dir}/missing.txt")),
    );
    report(
        "create_new over output.txt",
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(format!("{dir}/output.txt")),
    );
    report(
        "remove_file of a missing file",
        fs::remove_file(format!("{dir}/missing.txt")),
    );
    report(
        "create_dir over output.txt",
        fs::create_dir(format!("{dir}/output.txt")),
    );
    report(
        "read_dir of a file",
        fs::read_dir(format!("{dir}/output.txt")).map(|_| ()),
    );
    report(
        "open a file as a directory",
        File::open(format!("{dir}/output.txt/x")),
    );
    let mut file = File::open(dir).expect("opening the directory itself");
    let mut buffer = [0u8; 4];
    expect_failure("read from a directory", file.read(&mut buffer));
    let err = File::open(format!("{dir}/missing.txt")).expect_err("missing file");
    println!(
        "missing file error kind: {:?} ({})",
        err.kind(),
        describe(&err)
    );
}

fn size(path: &str) -> u64 {
    fs::metadata(path).map(|meta| meta.len()).expect("stat")
}

fn read(path: &str) -> String {
    fs::read_to_string(path).expect("reading back")
}

fn exists(path: &str) -> bool {
    fs::metadata(path).is_ok()
}

fn list(dir: &str) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .expect("reading the directory")
        .map(|entry| {
            entry
                .expect("a directory entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}

/// Whether a file time is within a day of now (the host's clock and the file system's agree).
fn recent(time: io::Result<SystemTime>) -> bool {
    let Ok(time) = time else { return false };
    let now = SystemTime::now();
    let day = Duration::from_secs(86_400);
    time < now + day && now < time + day
}
