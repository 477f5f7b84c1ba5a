// A program written in an unusual style: comments everywhere, odd spacing, redundant parens.
data{int<lower=0>N;/* count */array[N]real y;}
parameters
{
  real mu ; real < lower = 0 > sigma ;  // spaces inside the bounds
}
model
{
  // priors
  mu~normal( ( 0 ) , ((10)) ) ;
  sigma~cauchy(0,2.5)T [0,];
  y ~ normal(mu, sigma) T
    [ , 100 ] ;
  /* likelihood, with a
     block comment over two lines */
  y~normal(mu,sigma);
  target+=-0.5*square((mu-1)/2)+1e-3-.5E2;
}
