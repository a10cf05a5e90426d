# One chart of bench/report.py: a tab-separated table whose first column is the
# concurrency and one column per server. Called with -e "datafile='..'; outfile='..';
# chart_title='..'; ylab='..'; logy=0|1; ncols=N".
set terminal svg size 760,440 dynamic font "sans,12" background rgb "white"
set output outfile
set title chart_title
set xlabel "concurrent connections c (GET /sleep?ms=100)"
set ylabel ylab
set datafile separator "\t"
set datafile missing "-"
set logscale x
if (logy) { set logscale y } else { set yrange [0:*] }
set grid
set key outside right top
plot for [i=2:ncols] datafile using 1:i with linespoints lw 2 pt 7 title columnheader(i)
