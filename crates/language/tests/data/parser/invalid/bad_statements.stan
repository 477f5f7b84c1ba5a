transformed data {
  int n = 0;
  for i in 1:3 n += 1;
  while n > 0 n -= 1;
  if (n) n = 1 else n = 2;
  n + 1 = 2;
  foo(n);
  n ~;
  n @ 3;
  return n;
  n &= 1;
  x[1 = 2;
  real a, b;
}
model {
  for (i in 1:3)
}
