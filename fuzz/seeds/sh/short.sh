docker run -it -eA=1 -v/a:/b --name x img sh -c "make; pytest"
