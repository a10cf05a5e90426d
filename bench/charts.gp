# The charts of bench/report.py, called with -e "datafile='..'; outfile='..'; chart_title='..';
# ylab='..'; logy=0|1; bars=0|1" (and ncols=N, optionally xlab='..', for bars=0). bars=0: a
# tab-separated table whose first column is the concurrency and one column per server, a line
# each. bars=1: rows of server and value, a bar each.
set terminal svg size 760,440 dynamic font "sans,12" background rgb "white"
set output outfile
set title chart_title
set ylabel ylab
set datafile separator "\t"
set datafile missing "-"
set grid
if (logy) { set logscale y } else { set yrange [0:*] }
if (bars) {
    set style fill solid 0.7 border -1
    set boxwidth 0.6
    set xtics rotate by -30 left
    set grid noxtics
    unset key
    plot datafile using 0:2:xtic(1) with boxes lc rgb "#4477aa", \
         "" using 0:2:(sprintf("%.0f", $2)) with labels offset 0,0.7 notitle
} else {
    if (!exists("xlab")) { xlab = "concurrent connections c (GET /sleep?ms=100)" }
    set xlabel xlab
    set logscale x
    set key outside right top
    plot for [i=2:ncols] datafile using 1:i with linespoints lw 2 pt 7 title columnheader(i)
}
