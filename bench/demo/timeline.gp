# `make demo`'s chart for one model: one horizontal bar per request, from when the client sent it
# to when the answer arrived, one panel per experiment. Every model's chart of an experiment
# shares the same time axis (the longest of all models), so the charts compare side by side.
# Called with -e "datafile='timeline.tsv'; outfile='timeline-M.svg'; mode='M'".
# The TSV (written by demo.c): mode, experiment, series, row, start_s, end_s, status.
set terminal svg size 700,1200 dynamic font "sans,11" background rgb "white"
set output outfile
set datafile separator "\t"

titles = "'1. one /gather?ms=1000,2000 (its two tasks below), then /sleep 1000 and 2000 on two connections' \
'2. 100 concurrent /sleep?ms=300, then a /hello' \
'3. 8 concurrent /cpu?ms=250, then a /hello' \
'4. 10 x /sleep?ms=200 one after another on one connection, then at once'"
series(e) = e == 1 ? "request gather-task two-waits" : e <= 3 ? "request hello" : \
            e == 4 ? "in-turn at-once" : "request"
color(s) = s eq "hello" ? 0xcc3311 : s eq "gather-task" ? 0x88ccee : \
           s eq "at-once" ? 0xee7733 : s eq "two-waits" ? 0x228833 : 0x4477aa
label(s) = s eq "hello" ? "/hello" : s eq "gather-task" ? "gather task (server-side)" : \
           s eq "in-turn" ? "one after another" : s eq "at-once" ? "at once" : \
           s eq "two-waits" ? "/sleep on its own connection" : "request"
picked(e, s) = strcol(1) eq mode && column(2) == e && strcol(3) eq s

set multiplot layout 4,1
set grid x
set key below horizontal
set xlabel "seconds since the first request"
set ylabel "request"
set style fill solid 0.85 noborder
do for [e=1:4] {
    set autoscale xy
    stats datafile every ::1 using (column(2) == e ? column(6) : NaN) nooutput
    xmax = STATS_max * 1.08
    stats datafile every ::1 using (column(2) == e ? column(4) : NaN) nooutput
    rows = STATS_max
    ystep = rows <= 10 ? 1 : rows <= 20 ? 5 : 20
    set ytics ystep
    set autoscale xy
    stats datafile every ::1 using \
        (strcol(1) eq mode && column(2) == e && strcol(3) ne "gather-task" ? column(6) : NaN) \
        nooutput
    wall = STATS_max
    set xrange [0:xmax]
    set yrange [rows + 0.7:0.3]
    set title sprintf("%s\n%s: all answered after %.3f s", word(titles, e), mode, wall)
    plot for [s in series(e)] datafile every ::1 \
        using (picked(e, s) ? (column(5) + column(6)) / 2 : NaN):4:5:6: \
              (column(4) - 0.4):(column(4) + 0.4) \
        with boxxyerror lc rgb color(s) title label(s)
}
unset multiplot
