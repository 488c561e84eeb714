if [ "$N" = 0 ]; then
  A=1 cmd "a b" 'c' $(x "y)") `z` >o 2>&1 <<E
body
E
fi
