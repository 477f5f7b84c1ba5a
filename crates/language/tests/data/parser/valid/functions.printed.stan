functions {
    real halving_sum(real x, int n);

    real my_normal_lpdf(vector y, real mu, real sigma) {
        return normal_lpdf(y | mu, sigma);
    }

    real sq(real x) {
        return x * x;
    }

    vector sq(vector x) {
        return x .* x;
    }

    real halving_sum(real x, int n) {
        if (n == 0) {
            return x;
        }
        return x + halving_sum(x / 2, n - 1);
    }

    void tau_prior_lp(real tau) {
        tau ~ normal(0, 1);
    }

    void check_scale(data real lower, real s) {
        if (s <= lower) reject("scale must be positive");
    }

    array[] real pair_rng(real mu) {
        return {normal_rng(mu, 1), normal_rng(mu, 2)};
    }

    matrix outer(row_vector a, array[,] int k) {
        return a' * a * k[1, 1];
    }
}

data {
    int N;
    vector[N] y;
}

parameters {
    real mu;
    real<lower=0> sigma;
    real tau;
}

model {
    check_scale(0, sigma);
    y ~ my_normal(mu + halving_sum(tau, 3), sigma);
    target += -0.5 * sq(mu) - 0.1 * sum(sq(y - mu));
    tau_prior_lp(tau);
}

generated quantities {
    array[2] real draws = pair_rng(mu);
}
