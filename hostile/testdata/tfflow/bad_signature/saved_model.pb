…
"serveC
.
xPlaceholder*
dtype0*
shape:

yRelux"µ	*5
serving_default"

x
x:0
y
	missing:0