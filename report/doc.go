// Package report renders the result of a Refit command as one self-contained HTML
// page: a summary card, plots and sortable tables. The page loads nothing from the
// network (no scripts, fonts or styles from elsewhere): the plots are inline SVG drawn
// by gonum.org/v1/plot, the styles and the few lines of script that sort the tables
// are in the page, and the command's --json value is embedded as a JSON script
// element, so the page is a view of the same data scripts read.
//
// A Report is plain data; the CLI fills one per command from the result it prints
// with --json, and Write renders it. Plot builders (Line, Bars, GroupedBars,
// Histogram) turn series into Plot values holding their SVG.
//
// Output is deterministic: the same Report renders to the same bytes.
//
// Memory: the page is built in memory; plots of large models (thousands of tensors)
// stay in the hundreds of kilobytes because each point is one SVG path segment.
//
// Security: every string from a model (tensor names, paths) goes through
// html/template's escaping; the embedded JSON is escaped by html/template for a
// script context.
package report
