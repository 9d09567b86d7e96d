
.
xPlaceholder*
dtype0*
shape:
#
yPartitionedCallx*

fR
fO
M

f
a
out#
cPartitionedCalla*

fR
f"
out
c:output:0"µ	