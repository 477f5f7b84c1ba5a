data {
    int<lower=0> N;
    array[N] real x;
    array[N] real Y;
}

parameters {
    real alpha;
    real beta;
    real<lower=.5, upper=1> lambda;
    real<lower=0> tau;
}

transformed parameters {
    real sigma;
    real U3;
    sigma = 1 / sqrt(tau);
    U3 = logit(lambda);
}

model {
    for (i in 1:N) {
        real m;
        m = alpha - beta * pow(lambda, x[i]);
        Y[i] ~ normal(m, sigma);
    }
    alpha ~ normal(0.0, 1000);
    beta ~ normal(0.0, 1000);
    lambda ~ uniform(.5, 1);
    tau ~ gamma(.0001, .0001);
}
