
.
xPlaceholder*
dtype0*
shape:

mMergexn

nNextIterationm

yRelum"µ	