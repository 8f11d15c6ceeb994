fn main() {
    exp_tools::driver::main(exp_tools::summary::main)
}
