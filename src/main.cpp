#include "meshfed/cli/cli.hpp"

int main(int argc, char** argv) { return meshfed::cli::run(argc, argv); }
