
.
xPlaceholder*
dtype0*
shape:

pPlaceholder*
dtype0


sSwitchxp

tRelus:1

eNegs

t2AddV2te

mMerget2e

yRelum"µ	