int main(void)
{
	return 0;
}

static int f(int x)
{
	return x;
}
