
.
xPlaceholder*
dtype0*
shape:
$
yPartitionedCallx*
fR
f0‹
‚

f0
a
out%
c1PartitionedCalla*
fR
f1/
c2PartitionedCallc1:output:0*
fR
f1"
outc2:output:0
‚

f1
a
out%
c1PartitionedCalla*
fR
f2/
c2PartitionedCallc1:output:0*
fR
f2"
outc2:output:0
‚

f2
a
out%
c1PartitionedCalla*
fR
f3/
c2PartitionedCallc1:output:0*
fR
f3"
outc2:output:0
‚

f3
a
out%
c1PartitionedCalla*
fR
f4/
c2PartitionedCallc1:output:0*
fR
f4"
outc2:output:0
‚

f4
a
out%
c1PartitionedCalla*
fR
f5/
c2PartitionedCallc1:output:0*
fR
f5"
outc2:output:0
‚

f5
a
out%
c1PartitionedCalla*
fR
f6/
c2PartitionedCallc1:output:0*
fR
f6"
outc2:output:0
‚

f6
a
out%
c1PartitionedCalla*
fR
f7/
c2PartitionedCallc1:output:0*
fR
f7"
outc2:output:0
‚

f7
a
out%
c1PartitionedCalla*
fR
f8/
c2PartitionedCallc1:output:0*
fR
f8"
outc2:output:0
‚

f8
a
out%
c1PartitionedCalla*
fR
f9/
c2PartitionedCallc1:output:0*
fR
f9"
outc2:output:0
„

f9
a
out&
c1PartitionedCalla*
fR
f100
c2PartitionedCallc1:output:0*
fR
f10"
outc2:output:0
…

f10
a
out&
c1PartitionedCalla*
fR
f110
c2PartitionedCallc1:output:0*
fR
f11"
outc2:output:0
…

f11
a
out&
c1PartitionedCalla*
fR
f120
c2PartitionedCallc1:output:0*
fR
f12"
outc2:output:0
…

f12
a
out&
c1PartitionedCalla*
fR
f130
c2PartitionedCallc1:output:0*
fR
f13"
outc2:output:0
…

f13
a
out&
c1PartitionedCalla*
fR
f140
c2PartitionedCallc1:output:0*
fR
f14"
outc2:output:0
…

f14
a
out&
c1PartitionedCalla*
fR
f150
c2PartitionedCallc1:output:0*
fR
f15"
outc2:output:0
…

f15
a
out&
c1PartitionedCalla*
fR
f160
c2PartitionedCallc1:output:0*
fR
f16"
outc2:output:0
…

f16
a
out&
c1PartitionedCalla*
fR
f170
c2PartitionedCallc1:output:0*
fR
f17"
outc2:output:0
…

f17
a
out&
c1PartitionedCalla*
fR
f180
c2PartitionedCallc1:output:0*
fR
f18"
outc2:output:0
…

f18
a
out&
c1PartitionedCalla*
fR
f190
c2PartitionedCallc1:output:0*
fR
f19"
outc2:output:0
…

f19
a
out&
c1PartitionedCalla*
fR
f200
c2PartitionedCallc1:output:0*
fR
f20"
outc2:output:0
…

f20
a
out&
c1PartitionedCalla*
fR
f210
c2PartitionedCallc1:output:0*
fR
f21"
outc2:output:0
…

f21
a
out&
c1PartitionedCalla*
fR
f220
c2PartitionedCallc1:output:0*
fR
f22"
outc2:output:0
…

f22
a
out&
c1PartitionedCalla*
fR
f230
c2PartitionedCallc1:output:0*
fR
f23"
outc2:output:0
…

f23
a
out&
c1PartitionedCalla*
fR
f240
c2PartitionedCallc1:output:0*
fR
f24"
outc2:output:0
…

f24
a
out&
c1PartitionedCalla*
fR
f250
c2PartitionedCallc1:output:0*
fR
f25"
outc2:output:0
…

f25
a
out&
c1PartitionedCalla*
fR
f260
c2PartitionedCallc1:output:0*
fR
f26"
outc2:output:0
…

f26
a
out&
c1PartitionedCalla*
fR
f270
c2PartitionedCallc1:output:0*
fR
f27"
outc2:output:0
…

f27
a
out&
c1PartitionedCalla*
fR
f280
c2PartitionedCallc1:output:0*
fR
f28"
outc2:output:0
…

f28
a
out&
c1PartitionedCalla*
fR
f290
c2PartitionedCallc1:output:0*
fR
f29"
outc2:output:0
=

f29
a
out
rRelua"
outr:activations:0"µ	