#!/bin/bash
# run.sh -- the file-system benchmark: lsmfs against libfuse's passthrough_ll
# and the native directory, in one run (docs/BENCHMARKS.md, "The file system").
#
# Targets, all on the disk that holds the work directory:
#   lsmfs           build/lsmfs -f on a store in WORK/lsmfs-store, mounted at
#                   WORK/lsmfs-mnt, with its default options
#   passthrough_ll  libfuse's low-level passthrough example, compiled here from
#                   the source Debian ships in libfuse3-dev, over WORK/passthrough-src,
#                   mounted at WORK/passthrough-mnt, with its default options
#   native          the directory WORK/native itself
#
# Workloads (groups for --only):
#   fio    the job files beside this script: seqwrite, seqread (1 MiB I/O on one
#          file of --size), randread, randwrite (4 KiB, --runtime each),
#          fsyncwrite (4 KiB appends with fsync after each, --runtime),
#          smallfiles-write, smallfiles-read (--nrfiles files of 4 KiB)
#   meta   fs-meta-bench: create, stat, read, readdir, rename, unlink of
#          --meta-files files of 4 KiB, flat and in subdirectories of --per-dir
#   tree   a tarball of --tree (default /usr/include), made once per run and
#          the same for every target: untar, tar c of it back (through a pipe
#          to wc, so tar reads every byte), find -ls, rm -rf; each timed
#
# How steps are run. The targets take turns at each step (a burst of load on
# the machine hits all of them). Before every step the FUSE targets are
# unmounted and mounted again, so the step starts with the kernel's dentry,
# attribute and page caches of the mount empty and every request goes to the
# daemon; what lies below the daemons (lsmfs's store files, passthrough_ll's
# backing files) stays in the page cache, and the native target keeps its page
# cache (fio invalidate=0): native is the ceiling, "everything in memory".
# Before every step the file system holding WORK is synced (sync -f), so that
# one step's writeback is not charged to the next (--no-settle skips it).
# CPU time of a step: user + system time of the processes doing the work
# (fio, fs-meta-bench, tar...) plus that of the daemon (/proc/PID/stat) over
# the step; kernel threads (writeback, journal) are not counted. It moves
# less with the load on the machine than the rates do.
#
# Output, in --out (default BUILD/fs-bench-results/<date-time>):
#   results.csv    rep,target,workload,value,unit,better,cpu_s,work,work_unit:
#                  every measurement, with the CPU time of the step (above) and
#                  the work it did (I/Os, MiB, files, operations, trees)
#   medians.csv    target,workload,unit,better,median,min,max,runs,
#                  cpu_s_per_work,work_unit
#   diskio.csv     rep,target,workload,workload_bytes,disk_bytes: for the write
#                  workloads on the FUSE targets, what the daemon caused to be
#                  written to disk over its life (one step; GNU time's %O)
#   results.md     the tables (rates, lsmfs relative to both others; CPU time
#                  per unit of work; the targets; bytes written to disk; FUSE
#                  requests with --trace)
#   relative.png   the chart (gnuplot; relative.dat and relative.gp beside it)
#   env.txt        machine, versions, tree, options, load; progress.log; raw/
#                  (fio and fs-meta-bench output), logs/ (the daemons' stderr)
#   perf/          with --perf: a perf record of the lsmfs daemon per step
#   trace.csv      with --trace: FUSE requests per step and opcode (count, mean
#                  latency), from the kernel's fuse tracepoints
#
# Usage: bench/fs/run.sh [options]
#   --quick          smoke run: 16 MiB file, 0.2 s per timed job, 200 small
#                    files, the engine's sources as the tree, no sync between
#                    steps (about 15 s; measures nothing worth keeping)
#   --size SIZE      the large file of the fio jobs (1G)
#   --runtime T      each time-based fio job: randread, randwrite, fsyncwrite (30s)
#   --nrfiles N      files of the smallfiles jobs (10000)
#   --meta-files N   files per layout of fs-meta-bench (10000)
#   --per-dir N      files per subdirectory in its subdirs layout (1000)
#   --tree DIR       the directory tarred for the tree workloads (/usr/include)
#   --reps N         repetitions; the tables show medians (1)
#   --targets LIST   some of lsmfs,passthrough_ll,native (all three)
#   --only LIST      some of fio,meta,tree (all three)
#   --build DIR      where lsmfs and fs-meta-bench are (default: build/);
#                    passthrough_ll is compiled into DIR too
#   --lsmfs PATH     the lsmfs binary to measure (default BUILD/lsmfs)
#   --work DIR       stores, mounts and the native directory (BUILD/fs-bench-work);
#                    must be on the disk to measure
#   --out DIR        results directory
#   --lsmfs-opt OPT  one more lsmfs argument (repeatable), e.g. --lsmfs-opt -o
#                    --lsmfs-opt sync=always
#   --perf           record the lsmfs daemon with perf during each of its steps
#                    (perturbs its timings: a profiling run, not a measuring one)
#   --trace          count the FUSE requests of every step on a FUSE target, by
#                    opcode, with their mean latency (kernel tracepoints
#                    fuse:fuse_request_send/end through perf; Linux 6.13+)
#   --no-settle      no sync before each step
#   --keep-work      leave WORK's directories in place at the end
#   --report-only DIR  redo medians, tables and chart from DIR/results.csv
#   -h, --help       this help
# Exit status: 0 when every step ran and checked out; 1 otherwise (the message
# says which); 2 on a usage error. Mounts are always undone on exit.
# Needs fio, GNU time (/usr/bin/time), fuse3 (fusermount3), libfuse3-dev (the example source and
# pkg-config), a C compiler and gnuplot (no chart without it); --perf and
# --trace need linux-perf. tools/install-deps.sh --bench installs them.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cmdline="$0 $*"

size=1G
runtime=30s
nrfiles=10000
meta_files=10000
per_dir=1000
tree=/usr/include
reps=1
targets="lsmfs,passthrough_ll,native"
only="fio,meta,tree"
build=""
lsmfs_bin=""
work=""
out=""
lsmfs_extra=()
perf=0
trace=0
settle=1
keep_work=0
report_only=""

usage() { sed -n '2,/^set -euo/{/^#/p}' "$0" | sed 's/^# \{0,1\}//'; }
die() { echo "run.sh: $*" >&2; exit 1; }
need_arg() { [ $# -ge 2 ] || { echo "run.sh: $1 needs a value" >&2; exit 2; }; }

while [ $# -gt 0 ]; do
    case "$1" in
    --quick) size=16M; runtime=200ms; nrfiles=200; meta_files=200; per_dir=50
             tree="$repo/engine"; settle=0 ;;
    --size) need_arg "$@"; size=$2; shift ;;
    --runtime) need_arg "$@"; runtime=$2; shift ;;
    --nrfiles) need_arg "$@"; nrfiles=$2; shift ;;
    --meta-files) need_arg "$@"; meta_files=$2; shift ;;
    --per-dir) need_arg "$@"; per_dir=$2; shift ;;
    --tree) need_arg "$@"; tree=$2; shift ;;
    --reps) need_arg "$@"; reps=$2; shift ;;
    --targets) need_arg "$@"; targets=$2; shift ;;
    --only) need_arg "$@"; only=$2; shift ;;
    --build) need_arg "$@"; build=$2; shift ;;
    --lsmfs) need_arg "$@"; lsmfs_bin=$2; shift ;;
    --work) need_arg "$@"; work=$2; shift ;;
    --out) need_arg "$@"; out=$2; shift ;;
    --lsmfs-opt) need_arg "$@"; lsmfs_extra+=("$2"); shift ;;
    --perf) perf=1 ;;
    --trace) trace=1 ;;
    --no-settle) settle=0 ;;
    --keep-work) keep_work=1 ;;
    --report-only) need_arg "$@"; report_only=$2; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "run.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done

all_targets="lsmfs passthrough_ll native"
for t in ${targets//,/ }; do
    case " $all_targets " in *" $t "*) ;; *) echo "run.sh: unknown target $t" >&2; exit 2 ;; esac
done
for g in ${only//,/ }; do
    case "$g" in fio|meta|tree) ;; *) echo "run.sh: unknown group $g" >&2; exit 2 ;; esac
done
case "$reps" in ''|*[!0-9]*|0) echo "run.sh: --reps takes a positive number" >&2; exit 2 ;; esac

fio_jobs="seqwrite seqread randread randwrite fsyncwrite smallfiles-write smallfiles-read"
meta_phases="create stat read readdir rename unlink"
tree_ops="untar tar-c find-ls rm-rf"

# ---- the report: medians, table, chart (also --report-only) --------------------
# The ratio columns are "lsmfs is N times as fast": for rates lsmfs / other,
# for times other / lsmfs, so above 1 is always lsmfs ahead.
report() {
    local dir=$1
    [ -s "$dir/results.csv" ] || die "no results in $dir/results.csv"
    awk -F, -v CONVFMT=%.10g -v OFMT=%.10g '
    function sorted(s, a,   n, i, j, t) {
        n = split(s, a, " ")
        for (i = 2; i <= n; i++) { t = a[i] + 0; for (j = i - 1; j >= 1 && a[j] + 0 > t; j--) a[j+1] = a[j]; a[j+1] = t }
        return n
    }
    NR == 1 { next }
    {
        k = $2 "," $3
        if (!(k in seen)) { seen[k] = 1; order[++n] = k; unit[k] = $5; better[k] = $6; wu[k] = $9 }
        v[k] = v[k] " " $4
        if ($8 > 0) c[k] = c[k] " " ($7 / $8)
    }
    function median(s,   a, m) {
        m = sorted(s, a)
        if (m == 0) return ""
        return m % 2 ? a[(m + 1) / 2] : (a[m/2] + a[m/2 + 1]) / 2
    }
    END {
        print "target,workload,unit,better,median,min,max,runs,cpu_s_per_work,work_unit"
        for (i = 1; i <= n; i++) {
            k = order[i]; m = sorted(v[k], a)
            print k "," unit[k] "," better[k] "," median(v[k]) "," a[1] "," a[m] "," m "," median(c[k]) "," wu[k]
        }
    }' "$dir/results.csv" >"$dir/medians.csv"

    local title="lsmfs file-system benchmark"
    [ -f "$dir/params.txt" ] && title="$title: $(cat "$dir/params.txt")"
    awk -F, -v title="$title" '
    NR == 1 { next }
    {
        t = $1; w = $2
        if (!(w in wseen)) { wseen[w] = 1; wl[++nw] = w }
        tseen[t] = 1
        med[t, w] = $5; lo[t, w] = $6; hi[t, w] = $7; runs = $8
        unit[w] = $3; better[w] = $4; have[t, w] = 1
        cpu[t, w] = $9; wu[w] = $10
    }
    function fmt(x) {
        if (x == "") return "-"
        if (x >= 1000) return sprintf("%.0f", x)
        if (x >= 10) return sprintf("%.1f", x)
        return sprintf("%.3g", x)
    }
    # lsmfs as many times as fast as target o on workload w ("" when unknown)
    function speed(o, w) {
        if (!have["lsmfs", w] || !have[o, w] || med["lsmfs", w] <= 0 || med[o, w] <= 0) return ""
        return better[w] == "lower" ? med[o, w] / med["lsmfs", w] : med["lsmfs", w] / med[o, w]
    }
    function fmtr(r) { return r == "" ? "-" : sprintf("%.2fx", r) }
    function cc(t, w, f) { return (have[t, w] && cpu[t, w] != "") ? fmt(cpu[t, w] * f) : "-" }
    function cr(o, w) {
        if (!have["lsmfs", w] || !have[o, w] || cpu["lsmfs", w] == "" || cpu[o, w] + 0 <= 0) return "-"
        return sprintf("%.2fx", cpu["lsmfs", w] / cpu[o, w])
    }
    function cell(t, w,   s) {
        if (!have[t, w]) return "-"
        s = fmt(med[t, w])
        if (runs > 1) s = s " (" fmt(lo[t, w]) "-" fmt(hi[t, w]) ")"
        return s
    }
    # The targets of tracker issue 5 against passthrough_ll.
    function goal(w) {
        if (w ~ /^meta-.*-(create|stat|read|rename|unlink)$/) return 2
        if (w == "untar") return 2
        if (w == "seqread" || w == "seqwrite") return 0.8
        if (w == "fsyncwrite") return 1
        return ""
    }
    END {
        print "### " title
        print ""
        print "Medians" (runs > 1 ? " (lowest-highest) of " runs " runs" : " of 1 run") ". Rates: higher is better; times (s): lower is better."
        print "The last two columns say how many times as fast lsmfs is (rates: lsmfs / other;"
        print "times: other / lsmfs): above 1, lsmfs is ahead."
        print ""
        print "| workload | unit | lsmfs | passthrough_ll | native | lsmfs vs passthrough_ll | lsmfs vs native |"
        print "|---|---|---:|---:|---:|---:|---:|"
        for (j = 1; j <= nw; j++) {
            w = wl[j]
            printf "| %s | %s | %s | %s | %s | %s | %s |\n", w, unit[w], cell("lsmfs", w), cell("passthrough_ll", w), cell("native", w), fmtr(speed("passthrough_ll", w)), fmtr(speed("native", w))
        }
        print ""
        print "#### CPU time per unit of work"
        print ""
        print "User + system time of the processes doing the work (fio, fs-meta-bench, tar...) and of"
        print "the daemon, over the step, per unit (us per I/O, file or operation; ms per MiB; s per tree)."
        print "Kernel threads (writeback, journal) are not counted. Less moved by the load on the"
        print "machine than the rates above. The ratios say how many times as much CPU lsmfs spends."
        print ""
        print "| workload | per | lsmfs | passthrough_ll | native | lsmfs / passthrough_ll | lsmfs / native |"
        print "|---|---|---:|---:|---:|---:|---:|"
        for (j = 1; j <= nw; j++) {
            w = wl[j]; f = wu[w] == "MiB" ? 1e3 : (wu[w] == "tree" ? 1 : 1e6)
            pu = wu[w] == "MiB" ? "ms/MiB" : (wu[w] == "tree" ? "s" : "us/" wu[w])
            printf "| %s | %s | %s | %s | %s | %s | %s |\n", w, pu, cc("lsmfs", w, f), cc("passthrough_ll", w, f), cc("native", w, f), cr("passthrough_ll", w), cr("native", w)
        }
        print ""
        if (!tseen["lsmfs"] || !tseen["passthrough_ll"]) exit
        print "#### Targets (lsmfs against passthrough_ll)"
        print ""
        print "| workload | target | lsmfs vs passthrough_ll | met |"
        print "|---|---:|---:|:---:|"
        for (j = 1; j <= nw; j++) {
            w = wl[j]; g = goal(w); r = speed("passthrough_ll", w)
            if (g == "" || r == "") continue
            printf "| %s | >= %sx | %s | %s |\n", w, g, fmtr(r), (r >= g ? "yes" : "**no** (" sprintf("%.0f", 100 * r / g) "% of target)")
        }
        print ""
    }' "$dir/medians.csv" >"$dir/results.md"

    # Bytes the daemons wrote to disk per byte the workload wrote (diskio.csv).
    if [ -s "$dir/diskio.csv" ] && [ "$(wc -l <"$dir/diskio.csv")" -gt 1 ]; then
        awk -F, '
        function sorted(s, a,   n, i, j, t) {
            n = split(s, a, " ")
            for (i = 2; i <= n; i++) { t = a[i] + 0; for (j = i - 1; j >= 1 && a[j] + 0 > t; j--) a[j+1] = a[j]; a[j+1] = t }
            return n
        }
        function median(s,   a, m) { m = sorted(s, a); return m % 2 ? a[(m + 1) / 2] : (a[m/2] + a[m/2 + 1]) / 2 }
        NR == 1 { next }
        $4 > 0 {
            if (!($3 in ws)) { ws[$3] = 1; wl[++nw] = $3 }
            amp[$2, $3] = amp[$2, $3] " " ($5 / $4); mib[$2, $3] = mib[$2, $3] " " ($5 / 1048576)
            wmib[$2, $3] = wmib[$2, $3] " " ($4 / 1048576)
        }
        function c(t, w) {
            if (!((t, w) in amp)) return "-"
            return sprintf("%.2f (%.0f of %.0f MiB)", median(amp[t, w]), median(mib[t, w]), median(wmib[t, w]))
        }
        END {
            print "#### Bytes written to disk"
            print ""
            print "What the daemon caused to be written to disk over its life (one step: mounted before"
            print "it, unmounted after; getrusage ru_oublock, its close and background work included), per"
            print "byte the workload wrote, medians; in brackets the MiB written to disk and by the"
            print "workload (fio'"'"'s count, or the sizes of the files in the tarball for untar)."
            print ""
            print "| workload | lsmfs | passthrough_ll |"
            print "|---|---:|---:|"
            for (j = 1; j <= nw; j++)
                printf "| %s | %s | %s |\n", wl[j], c("lsmfs", wl[j]), c("passthrough_ll", wl[j])
            print ""
        }' "$dir/diskio.csv" >>"$dir/results.md"
    fi

    # With --trace: the FUSE requests per unit of work and their mean latency
    # (medians over the runs of each count and latency).
    if [ -s "$dir/trace.csv" ]; then
        awk -F, '
        function sorted(s, a,   n, i, j, t) {
            n = split(s, a, " ")
            for (i = 2; i <= n; i++) { t = a[i] + 0; for (j = i - 1; j >= 1 && a[j] + 0 > t; j--) a[j+1] = a[j]; a[j+1] = t }
            return n
        }
        function median(s,   a, m) { m = sorted(s, a); return m % 2 ? a[(m + 1) / 2] : (a[m/2] + a[m/2 + 1]) / 2 }
        FNR == 1 { file++; next }
        file == 1 { if ($8 > 0) work[$2, $3] = work[$2, $3] " " $8; next }
        {
            k = $2 SUBSEP $3
            if (!(k in seen)) { seen[k] = 1; keys[++nk] = k }
            if (!(($2, $3, $4) in opseen)) { opseen[$2, $3, $4] = 1; ops[k] = ops[k] " " $4 }
            cnt[$2, $3, $4] = cnt[$2, $3, $4] " " $5; lat[$2, $3, $4] = lat[$2, $3, $4] " " $6
        }
        END {
            print "#### FUSE requests per unit of work (--trace)"
            print ""
            print "Requests the kernel sent the daemon per I/O, file, operation, MiB or tree, by opcode,"
            print "with the mean time from send to reply (us), medians over the runs."
            print ""
            print "| workload | target | requests per unit | mean us | by opcode: requests per unit x mean us |"
            print "|---|---|---:|---:|---|"
            for (i = 1; i <= nk; i++) {
                split(keys[i], tw, SUBSEP); t = tw[1]; w = tw[2]
                u = median(work[t, w]); if (u <= 0) continue
                no = split(ops[keys[i]], ol, " "); tot = 0; tl = 0; det = ""
                for (j = 1; j <= no; j++) {
                    c = median(cnt[t, w, ol[j]]); l = median(lat[t, w, ol[j]])
                    tot += c; tl += c * l
                    if (c / u >= 0.001) det = det (det == "" ? "" : ", ") sprintf("%s %.3g x %.0f", ol[j], c / u, l)
                }
                printf "| %s | %s | %.3g | %.0f | %s |\n", w, t, tot / u, (tot > 0 ? tl / tot : 0), det
            }
            print ""
        }' "$dir/results.csv" "$dir/trace.csv" >>"$dir/results.md"
    fi

    # Chart: one group of bars per workload, lsmfs relative to each other target.
    awk -F, '
    NR == 1 { next }
    { if (!($2 in ws)) { ws[$2] = 1; w[++nw] = $2 } m[$1, $2] = $5; b[$2] = $4; have[$1, $2] = 1 }
    function sp(o, x) {
        if (!have["lsmfs", x] || !have[o, x] || m["lsmfs", x] <= 0 || m[o, x] <= 0) return "NaN"
        return sprintf("%.4f", b[x] == "lower" ? m[o, x] / m["lsmfs", x] : m["lsmfs", x] / m[o, x])
    }
    END {
        print "workload \"vs passthrough_ll\" \"vs native\""
        for (j = 1; j <= nw; j++) print w[j] " " sp("passthrough_ll", w[j]) " " sp("native", w[j])
    }' "$dir/medians.csv" >"$dir/relative.dat"
    if command -v gnuplot >/dev/null 2>&1; then
        local term="png noenhanced size 1400,650"
        gnuplot -e 'set terminal pngcairo' >/dev/null 2>&1 &&
            term="pngcairo noenhanced size 1400,650 font 'sans,10'"
        # The y range: powers of 2 around every ratio, at least 1/4 to 4.
        local yrange ytics
        read -r yrange ytics < <(awk 'NR > 1 { for (i = 2; i <= 3; i++) if ($i != "NaN" && $i > 0) {
                e = log($i) / log(2); if (e < lo) lo = e; if (e > hi) hi = e } }
            END {
                lo = int(lo) - (lo < int(lo) ? 1 : 0); if (lo > -2) lo = -2
                hi = int(hi) + (hi > int(hi) ? 1 : 0); if (hi < 2) hi = 2
                step = 1
                if (hi - lo > 12) { step = 2; if (lo % 2) lo--; if (hi % 2) hi++ }
                t = ""
                for (e = lo; e <= hi; e += step)
                    t = t (t == "" ? "" : ",") sprintf("\"%s\" %.10g", e < 0 ? "1/" 2 ^ -e : 2 ^ e, 2 ^ e)
                printf "%.10g:%.10g %s\n", 2 ^ lo, 2 ^ hi, t
            }' "$dir/relative.dat")
        cat >"$dir/relative.gp" <<EOF
set terminal $term
set output '$dir/relative.png'
set title "$title\nhow many times as fast lsmfs is (log scale; above 1: lsmfs ahead)"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set boxwidth 0.9
set logscale y 2
set yrange [$yrange]
set ytics ($ytics)
set grid ytics
set xtics rotate by -40
set key top left
set datafile missing "NaN"
set arrow from graph 0, first 1 to graph 1, first 1 nohead lw 2 lc rgb "black"
plot '$dir/relative.dat' using 2:xtic(1) title columnheader(2), '' using 3 title columnheader(3)
EOF
        gnuplot "$dir/relative.gp" || echo "run.sh: gnuplot failed: no chart" >&2
    else
        echo "run.sh: gnuplot not installed: no chart (tools/install-deps.sh --bench)" >&2
    fi
}

# trace.csv from the recorded tracepoints: every request of the step's mount
# matched with its end, summed by opcode.
trace_report() {
    local f rep_n t w conn
    echo "rep,target,workload,opcode,count,mean_us" >"$out/trace.csv"
    for f in "$out"/trace/steps.rep*; do
        rep_n=${f##*.rep}
        while IFS=, read -r t w conn; do
            perf script -i "$out/trace/$t-$w.rep$rep_n.data" -F time,event,trace 2>/dev/null |
            awk -v conn="$conn" -v pre="$rep_n,$t,$w" '
            {
                tm = $1; sub(/:$/, "", tm); cn = ""; u = ""; op = ""
                for (i = 3; i <= NF; i++) {
                    if ($i == "connection") cn = $(i + 1)
                    else if ($i == "req") u = $(i + 1)
                    else if ($i == "opcode") { op = $(i + 2); gsub(/[()]/, "", op); sub(/^FUSE_/, "", op) }
                }
                if (cn != conn) next
                if ($2 ~ /send/) { start[u] = tm; opc[u] = op }
                else if (u in start) { n[opc[u]]++; lat[opc[u]] += tm - start[u]; delete start[u] }
            }
            END { for (o in n) printf "%s,%s,%d,%.1f\n", pre, o, n[o], lat[o] / n[o] * 1e6 }' \
                >>"$out/trace.csv"
        done <"$f"
    done
}

if [ -n "$report_only" ]; then
    out=$report_only
    [ ! -d "$out/trace" ] || [ -s "$out/trace.csv" ] || trace_report
    report "$report_only"
    cat "$report_only/results.md"
    exit 0
fi

# ---- binaries and tools -----------------------------------------------------------
[ -n "$build" ] || build=$repo/build
[ -d "$build" ] || die "no build directory $build: build the project (README) or pass --build"
build=$(cd "$build" && pwd)
[ -n "$lsmfs_bin" ] || lsmfs_bin=$build/lsmfs
lsmfs_bin=$(readlink -f "$lsmfs_bin")
meta_bin=$build/fs-meta-bench
for b in "$lsmfs_bin" "$meta_bin"; do [ -x "$b" ] || die "$b is missing (cmake --build $build)"; done
for c in fio fusermount3 mountpoint pkg-config cc tar find pgrep /usr/bin/time; do
    command -v "$c" >/dev/null 2>&1 || die "$c is not installed (tools/install-deps.sh --bench)"
done
[ -c /dev/fuse ] || die "/dev/fuse is missing: FUSE cannot mount here"
[ "$perf" -eq 0 ] && [ "$trace" -eq 0 ] || command -v perf >/dev/null 2>&1 ||
    die "--perf and --trace need perf (apt-get install linux-perf)"
[ "$trace" -eq 0 ] || perf list 'fuse:fuse_request_send' 2>/dev/null | grep -q fuse_request_send ||
    die "--trace needs the kernel's fuse tracepoints (Linux 6.13 or later)"
[ -d "$tree" ] || die "--tree $tree is not a directory"

# passthrough_ll: the example as Debian ships it, compiled here.
pt_src_dir=""
for d in /usr/share/doc/libfuse3-dev/examples /usr/share/doc/fuse3/examples; do
    [ -f "$d/passthrough_ll.c" ] && { pt_src_dir=$d; break; }
done
[ -n "$pt_src_dir" ] || die "passthrough_ll.c not found (package libfuse3-dev)"
pt_build=$build/fs-bench-passthrough
pt_bin=$pt_build/passthrough_ll
if [ ! -x "$pt_bin" ] || [ "$pt_src_dir/passthrough_ll.c" -nt "$pt_bin" ]; then
    mkdir -p "$pt_build"
    cp "$pt_src_dir/passthrough_ll.c" "$pt_src_dir/passthrough_helpers.h" "$pt_build/"
    # shellcheck disable=SC2046
    cc -O2 -g -Wall -o "$pt_bin" "$pt_build/passthrough_ll.c" $(pkg-config fuse3 --cflags --libs) ||
        die "compiling passthrough_ll failed"
fi

[ -n "$work" ] || work=$build/fs-bench-work
[ -n "$out" ] || out=$build/fs-bench-results/$(date +%Y%m%d-%H%M%S)
mkdir -p "$work" "$out/raw" "$out/logs"
work=$(cd "$work" && pwd)
out=$(cd "$out" && pwd)

store=$work/lsmfs-store
declare -A mnt=([lsmfs]=$work/lsmfs-mnt [passthrough_ll]=$work/passthrough-mnt [native]=$work/native)
pt_backing=$work/passthrough-src
declare -A pid=()
declare -A time_pid=()
declare -A io_step=() # rep,target,workload,bytes the workload wrote: set by the step
perf_pid=""
trace_pid=""

log() { echo "[$(date +%H:%M:%S)] $*" | tee -a "$out/progress.log"; }

# ---- mounts -----------------------------------------------------------------------
is_fuse() { [ "$1" = lsmfs ] || [ "$1" = passthrough_ll ]; }

# Each daemon runs under GNU time, which writes the file-system output of its
# whole life (getrusage ru_oublock: the bytes it caused to be written to disk,
# in 512-byte units, all threads, its close included) to $out/.io-TARGET when
# it exits. A daemon lives for one step (it is mounted afresh before each), so
# that is what the step cost the disk, including what the daemon wrote after
# the step's clock stopped (its background flushes and compactions, the flush
# at unmount). pid[] is the daemon itself (time's child): CPU time and perf.
mount_target() {
    local t=$1 m=${mnt[$1]} tp
    rm -f "$out/.io-$t"
    case "$t" in
    lsmfs) /usr/bin/time -f %O -o "$out/.io-$t" \
               "$lsmfs_bin" -f "${lsmfs_extra[@]}" "$store" "$m" 2>>"$out/logs/lsmfs.log" & ;;
    passthrough_ll) /usr/bin/time -f %O -o "$out/.io-$t" \
               "$pt_bin" -f -o source="$pt_backing" "$m" 2>>"$out/logs/passthrough_ll.log" & ;;
    *) return 0 ;;
    esac
    tp=$!
    time_pid[$t]=$tp
    pid[$t]=""
    for _ in $(seq 1 500); do
        [ -n "${pid[$t]}" ] || pid[$t]=$(pgrep -P "$tp" | head -1 || true)
        [ -n "${pid[$t]}" ] && mountpoint -q "$m" && return 0
        kill -0 "$tp" 2>/dev/null || break
        sleep 0.02
    done
    die "$t did not mount at $m (see $out/logs/$t.log)"
}

unmount_target() {
    local t=$1 m=${mnt[$1]} status=0
    is_fuse "$t" || return 0
    [ -n "${pid[$t]:-}" ] || return 0
    for _ in $(seq 1 100); do
        mountpoint -q "$m" || break
        fusermount3 -u "$m" 2>/dev/null && break
        sleep 0.1
    done
    if mountpoint -q "$m"; then
        echo "run.sh: $m is busy: detaching it lazily" >&2
        fusermount3 -uz "$m" || true
    fi
    wait "${time_pid[$t]}" || status=$?
    pid[$t]=""
    time_pid[$t]=""
    [ "$status" -eq 0 ] || echo "run.sh: the $t daemon exited with status $status (see $out/logs/$t.log)" >&2
    # What its step cost the disk (see mount_target).
    if [ -n "${io_step[$t]:-}" ] && [ -s "$out/.io-$t" ]; then
        echo "${io_step[$t]},$(( $(tail -1 "$out/.io-$t") * 512 ))" >>"$out/diskio.csv"
    fi
    io_step[$t]=""
    return 0
}

stop_perf() {
    local p
    for p in "$perf_pid" "$trace_pid"; do
        [ -n "$p" ] || continue
        kill -INT "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    perf_pid=""
    trace_pid=""
}

cleanup() {
    local status=$?
    trap - EXIT INT TERM
    stop_perf
    for t in lsmfs passthrough_ll; do unmount_target "$t"; done
    if [ "$keep_work" -eq 0 ]; then
        for t in lsmfs passthrough_ll; do mountpoint -q "${mnt[$t]}" || rmdir "${mnt[$t]}" 2>/dev/null || true; done
        rm -rf "$store" "$pt_backing" "${mnt[native]}"
        rmdir "$work" 2>/dev/null || true
    fi
    [ "$status" -eq 0 ] || log "failed (status $status); mounts undone"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Leftovers of an interrupted run: undo its mounts (they are this script's
# paths), then start from empty directories.
for t in lsmfs passthrough_ll; do
    if mountpoint -q "${mnt[$t]}" 2>/dev/null; then
        echo "run.sh: unmounting a leftover mount at ${mnt[$t]}" >&2
        fusermount3 -u "${mnt[$t]}" || fusermount3 -uz "${mnt[$t]}"
        sleep 0.5
    fi
done
rm -rf "$store" "$pt_backing" "${mnt[native]}"
mkdir -p "$pt_backing" "${mnt[native]}" "${mnt[lsmfs]}" "${mnt[passthrough_ll]}"

# ---- what this run is ---------------------------------------------------------------
tarball=$out/tree.tar
tar -C "$tree" -cf "$tarball" --sort=name --hard-dereference \
    --transform='s,^\.$,tree,;s,^\./,tree/,' . || die "making the tarball of $tree failed"
tree_entries=$(tar -tf "$tarball" | wc -l)
tree_files=$(tar -tvf "$tarball" | grep -c '^-' || true)
tarball_bytes=$(stat -c %s "$tarball")
tree_bytes=$(tar -tvf "$tarball" | awk '$1 ~ /^-/ { s += $3 } END { printf "%.0f", s }')

sel_targets=${targets//,/ }
echo "size $size, runtime $runtime, $nrfiles small files, meta $meta_files files ($per_dir per dir), tree $tree, $reps rep(s)" \
    >"$out/params.txt"
{
    echo "date:        $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "command:     $cmdline"
    echo "parameters:  $(cat "$out/params.txt")"
    echo "cpu:         $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), $(nproc) cores online"
    echo "memory:      $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
    echo "kernel:      $(uname -srm)"
    echo "work dir:    $work on $(findmnt -n -o FSTYPE,SOURCE -T "$work" | tr -s ' ')"
    echo "lsmfs:       $("$lsmfs_bin" --version 2>&1 | head -1) ($lsmfs_bin, options: ${lsmfs_extra[*]:-defaults})"
    echo "repository:  HEAD $(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo '?'), uncommitted changes under engine/ and fs/: $(git -C "$repo" status --porcelain -- engine fs 2>/dev/null | wc -l) files"
    echo "libfuse:     $(pkg-config --modversion fuse3) (passthrough_ll from $pt_src_dir, cc -O2, default options)"
    echo "fusermount3: $(fusermount3 --version 2>&1 | head -1)"
    echo "fio:         $(fio --version)"
    echo "cc:          $(cc --version | head -1)"
    echo "tar:         $(tar --version | head -1)"
    echo "tree:        $tree: $tree_entries entries, $tree_files files, tarball $tarball_bytes bytes"
    echo "targets:     $sel_targets"
    echo "load start:  $(cut -d' ' -f1-3 /proc/loadavg)"
} >"$out/env.txt"
cat "$out/env.txt"

echo "rep,target,workload,value,unit,better,cpu_s,work,work_unit" >"$out/results.csv"
echo "rep,target,workload,workload_bytes,disk_bytes" >"$out/diskio.csv"
record() { # rep target workload value unit better cpu_s work work_unit
    echo "$1,$2,$3,$4,$5,$6,$7,$8,$9" >>"$out/results.csv"
    printf '  %-15s %-22s %12s %-8s cpu %8.3f s\n' "$2" "$3" "$4" "$5" "$7" | tee -a "$out/progress.log"
}

# ---- steps ----------------------------------------------------------------------------
# A measured step: step_begin (settle, fresh mount, perf on), step_run (the
# work), step_end (perf off, CPU time). step_run sets step_wall, the wall
# time of the work, and step_client_cpu; step_end sets step_cpu, the CPU time
# (user + system) of the work's processes plus that of the daemon over the
# step. Kernel threads (writeback, the journal) are in neither.
clk_tck=$(getconf CLK_TCK)
daemon_ticks() { # the process's utime + stime, all threads (fields 14, 15)
    local p=$1
    if [ -z "$p" ] || [ ! -r "/proc/$p/stat" ]; then echo 0; return; fi
    sed 's/^.*) //' "/proc/$p/stat" | awk '{ print $12 + $13 }'
}

step_begin() { # target workload
    local t=$1 w=$2
    [ "$settle" -eq 0 ] || sync -f "$work"
    if is_fuse "$t"; then
        unmount_target "$t"
        mount_target "$t"
    fi
    if [ "$perf" -eq 1 ] && [ "$t" = lsmfs ]; then
        mkdir -p "$out/perf"
        perf record -F 999 -g --call-graph dwarf,16384 -p "${pid[lsmfs]}" \
            -o "$out/perf/$w.rep$rep.data" >>"$out/logs/perf.log" 2>&1 &
        perf_pid=$!
        sleep 0.5 # let perf attach before the work starts
    fi
    if [ "$trace" -eq 1 ] && is_fuse "$t"; then
        # The tracepoints name the connection by the mount's device number
        # (the kernel's encoding: major << 20 | minor).
        local dev
        dev=$(mountpoint -d "${mnt[$t]}")
        mkdir -p "$out/trace"
        echo "$t,$w,$((${dev%%:*} << 20 | ${dev##*:}))" >>"$out/trace/steps.rep$rep"
        perf record -q -a -e fuse:fuse_request_send -e fuse:fuse_request_end \
            -o "$out/trace/$t-$w.rep$rep.data" >>"$out/logs/perf.log" 2>&1 &
        trace_pid=$!
        sleep 0.5
    fi
    step_target=$t
    step_ticks0=$(daemon_ticks "${pid[$t]:-}")
}

step_run() { # OUTFILE command... : stdout to OUTFILE, stderr appended to it
    local f=$1 tf=$out/.step-time st=0
    shift
    local TIMEFORMAT='%3R %3U %3S'
    { time "$@" >"$f" 2>&1; } 2>"$tf" || st=$?
    local u s
    read -r step_wall u s <"$tf"
    step_client_cpu=$(awk -v u="$u" -v s="$s" 'BEGIN { printf "%.3f", u + s }')
    return "$st"
}

step_end() {
    stop_perf
    local ticks1
    ticks1=$(daemon_ticks "${pid[$step_target]:-}")
    step_cpu=$(awk -v a="$step_ticks0" -v b="$ticks1" -v hz="$clk_tck" -v c="$step_client_cpu" \
        'BEGIN { printf "%.3f", c + (b - a) / hz }')
}

run_fio() { # target job
    local t=$1 job=$2 d=${mnt[$1]} raw line f_kb f_bw f_iops value unit done_n done_unit kb
    raw="$out/raw/rep$rep-$t-$job.txt"
    case "$job" in
    seqwrite) rm -f "$d/seq.dat" ;;
    fsyncwrite) rm -f "$d/fsync.dat" ;;
    smallfiles-write) rm -rf "$d/small"; mkdir "$d/small" ;;
    esac
    local inval=1
    [ "$t" = native ] && inval=0
    step_begin "$t" "$job"
    FSB_DIR=$d FSB_SIZE=$size FSB_RUNTIME=$runtime FSB_NRFILES=$nrfiles FSB_INVALIDATE=$inval \
        step_run "$raw" fio --output-format=terse,normal --terse-version=3 "$here/$job.fio" ||
        die "fio $job on $t failed: see $raw"
    step_end
    # Terse v3: field 3 job name, 5 error; read: 6 KiB done, 7 KiB/s, 8 IOPS;
    # write: 47, 48, 49.
    line=$(grep "^3;fio-[^;]*;$job;" "$raw" || true)
    [ -n "$line" ] || die "fio $job on $t printed no result (job dropped?): see $raw"
    [ "$(echo "$line" | cut -d';' -f5)" = 0 ] || die "fio $job on $t reported an error: see $raw"
    case "$job" in
    *read*) f_kb=6; f_bw=7; f_iops=8 ;;
    *) f_kb=47; f_bw=48; f_iops=49 ;;
    esac
    kb=$(echo "$line" | cut -d';' -f$f_kb)
    case "$job" in
    seq*) value=$(echo "$line" | cut -d';' -f$f_bw | awk '{ printf "%.1f", $1 / 1024 }'); unit=MiB/s
          done_n=$(awk -v k="$kb" 'BEGIN { printf "%.1f", k / 1024 }'); done_unit=MiB ;;
    smallfiles*) value=$(echo "$line" | cut -d';' -f$f_iops); unit=files/s
          done_n=$((kb / 4)); done_unit="file" ;;
    *) value=$(echo "$line" | cut -d';' -f$f_iops); unit=IOPS
          done_n=$((kb / 4)); done_unit=I/O ;;
    esac
    if [ "$value" = 0 ] || [ "$value" = 0.0 ]; then die "fio $job on $t did no I/O: see $raw"; fi
    record "$rep" "$t" "$job" "$value" "$unit" higher "$step_cpu" "$done_n" "$done_unit"
    case "$job" in
    *write*) if is_fuse "$t"; then io_step[$t]="$rep,$t,$job,$((kb * 1024))"; fi ;;
    esac
}

fio_cleanup() { # remove the fio files (not measured)
    local d=${mnt[$1]}
    rm -rf "$d/seq.dat" "$d/fsync.dat" "$d/small"
}

run_meta() { # target layout phase
    local t=$1 layout=$2 ph=$3 d=${mnt[$1]}/meta raw line
    raw="$out/raw/rep$rep-$t-meta-$layout-$ph.txt"
    [ "$ph" = create ] && mkdir -p "$d"
    step_begin "$t" "meta-$layout-$ph"
    step_run "$raw" "$meta_bin" --files="$meta_files" --per-dir="$per_dir" --layout="$layout" \
        --phases="$ph" --csv "$d" || die "fs-meta-bench $layout $ph on $t failed: see $raw"
    step_end
    line=$(grep "^$layout,$ph," "$raw" | tail -1)
    [ -n "$line" ] || die "fs-meta-bench printed no result for $layout $ph on $t: see $raw"
    record "$rep" "$t" "meta-$layout-$ph" "$(echo "$line" | cut -d, -f5)" ops/s higher \
        "$step_cpu" "$(echo "$line" | cut -d, -f3)" op
    [ "$ph" != unlink ] || rmdir "$d"
}

run_tree() { # target op
    local t=$1 op=$2 d=${mnt[$1]} raw n
    raw="$out/raw/rep$rep-$t-$op.txt"
    [ "$op" != untar ] || rm -rf "$d/tree"
    step_begin "$t" "$op"
    # shellcheck disable=SC2016 # $1 is the inner shell's
    case "$op" in
    untar) step_run "$raw" tar -xf "$tarball" -C "$d" ;;
    tar-c) step_run "$raw" bash -o pipefail -c 'tar -cf - -C "$1" tree | wc -c' sh "$d" ;;
    find-ls) step_run "$raw" bash -o pipefail -c 'find "$1/tree" -ls | wc -l' sh "$d" ;;
    rm-rf) step_run "$raw" rm -rf "$d/tree" ;;
    esac || die "$op on $t failed: see $raw"
    step_end
    n=$(tail -1 "$raw")
    case "$op" in
    tar-c)
        # The same names, sizes and contents make an archive of the same size.
        [ "$n" = "$tarball_bytes" ] ||
            log "  note: tar c on $t wrote $n bytes, the tarball has $tarball_bytes" ;;
    find-ls)
        [ "$n" = "$tree_entries" ] || die "find -ls on $t listed $n entries, the tarball has $tree_entries" ;;
    rm-rf)
        [ ! -e "$d/tree" ] || die "rm -rf on $t left $d/tree" ;;
    esac
    record "$rep" "$t" "$op" "$step_wall" s lower "$step_cpu" 1 tree
    if [ "$op" = untar ] && is_fuse "$t"; then io_step[$t]="$rep,$t,$op,$tree_bytes"; fi
}

# ---- the run -------------------------------------------------------------------------
for t in $sel_targets; do is_fuse "$t" && mount_target "$t"; done
log "results: $out"
start=$(date +%s)
for rep in $(seq 1 "$reps"); do
    for g in ${only//,/ }; do
        log "rep $rep/$reps: $g (load $(cut -d' ' -f1-3 /proc/loadavg))"
        case "$g" in
        fio)
            for job in $fio_jobs; do
                for t in $sel_targets; do run_fio "$t" "$job"; done
            done
            for t in $sel_targets; do fio_cleanup "$t"; done ;;
        meta)
            for layout in flat subdirs; do
                for ph in $meta_phases; do
                    for t in $sel_targets; do run_meta "$t" "$layout" "$ph"; done
                done
            done ;;
        tree)
            for op in $tree_ops; do
                for t in $sel_targets; do run_tree "$t" "$op"; done
            done ;;
        esac
    done
done
echo "load end:    $(cut -d' ' -f1-3 /proc/loadavg); $(( $(date +%s) - start )) s" >>"$out/env.txt"
log "done in $(( $(date +%s) - start )) s (load $(cut -d' ' -f1-3 /proc/loadavg))"

for t in lsmfs passthrough_ll; do unmount_target "$t"; done
rm -f "$tarball"

if [ "$perf" -eq 1 ] && [ -d "$out/perf" ]; then
    log "perf reports (perf/*.txt)"
    for f in "$out"/perf/*.data; do
        {
            # Each sample goes to the FUSE operation it served (the
            # outermost lsmfs_ll_* frame; readdir_common for the listings,
            # which the two readdir handlers tail-call), or to the
            # background thread or the request loop it came from.
            echo "== samples by FUSE operation or thread"
            perf script -i "$f" 2>/dev/null | awk '
            /^[^ \t]/ { stack = ""; next }
            /^$/ {
                if (stack == "") next
                tot++; n = split(stack, a, ";"); c = "other"
                for (i = 1; i <= n; i++) if (a[i] ~ /^(lsmfs_ll_|readdir_common$)/) c = a[i]
                if (c == "other") for (i = 1; i <= n; i++)
                    if (a[i] ~ /^(compact_main|flush_main|sync_main)$/) { c = a[i]; break }
                if (c == "other") for (i = 1; i <= n; i++)
                    if (a[i] ~ /fuse_session_receive_buf|fuse_dev_read/) { c = "receiving requests"; break }
                cnt[c]++; stack = ""; next
            }
            { s = $2; sub(/\+0x.*/, "", s); stack = stack ";" s }
            END { for (c in cnt) printf "%8.2f%%  %s\n", 100 * cnt[c] / tot, c }' | sort -rn
            echo "== self time by symbol"
            perf report -i "$f" --no-children --stdio -g none --sort sym --percent-limit 1 2>/dev/null | grep '%' || true
            echo "== inclusive time by symbol"
            perf report -i "$f" --children --stdio -g none --sort sym --percent-limit 3 2>/dev/null | grep '%' || true
        } >"${f%.data}.txt"
    done
fi

if [ "$trace" -eq 1 ] && [ -d "$out/trace" ]; then
    log "FUSE request counts (trace.csv)"
    trace_report
fi

report "$out"
echo
cat "$out/results.md"
echo "results: $out (results.md, results.csv, medians.csv, relative.png, env.txt)"
