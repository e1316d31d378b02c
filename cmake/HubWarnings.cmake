# Warnings every target gets (STYLE.md, "Build").
set(HUB_WARNINGS -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wstrict-prototypes
    -Wmissing-prototypes -Wno-unused-parameter)
add_compile_definitions(_GNU_SOURCE)
